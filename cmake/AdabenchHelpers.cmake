# Helpers shared by every folder: warnings, sanitizers, library and test registration.

# Warnings are errors on our code only; third-party headers come in as SYSTEM includes.
function(adabench_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror -Wno-unused-parameter>
    # GCC 12 at -O3 (Release) reports -Wrestrict inside libstdc++'s std::string concatenation, a
    # known false positive (GCC PR 105329).
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>
    # clang (the fuzzing build): our `#pragma GCC diagnostic` lines name GCC-only warnings
    # (-Wmaybe-uninitialized) that clang does not know.
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wno-unknown-warning-option>)
endfunction()

function(adabench_setup_sanitizers)
  if(ADABENCH_SANITIZE)
    message(STATUS "adabench: sanitizers ${ADABENCH_SANITIZE}")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${ADABENCH_SANITIZE}>
                        $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                        $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
    add_link_options(-fsanitize=${ADABENCH_SANITIZE})
  endif()
endfunction()

# ADABENCH_FUZZ=ON (clang only): every CXX file gets libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link), so the fuzz targets in fuzz/ see the edges of the library code they
# call; the targets themselves link -fsanitize=fuzzer (libFuzzer's main).
function(adabench_setup_fuzz)
  if(ADABENCH_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "ADABENCH_FUZZ=ON needs clang (hint: CC=clang CXX=clang++ cmake ...)")
    endif()
    message(STATUS "adabench: libFuzzer targets ON")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
    add_link_options(-fsanitize=fuzzer-no-link)
  endif()
endfunction()

# The git sha is read at build time (not configure time) so `adabench version` never lies.
function(adabench_setup_version)
  set(gen ${CMAKE_BINARY_DIR}/generated)
  file(MAKE_DIRECTORY ${gen})
  add_custom_target(adabench_version_gen
    COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${gen}/version_sha.h
            -P ${CMAKE_SOURCE_DIR}/cmake/GenVersion.cmake
    BYPRODUCTS ${gen}/version_sha.h
    COMMENT "adabench: reading git sha")
endfunction()

# adabench_add_library(NAME DIR [CUDA] DEPS ...): one library per folder from its *.cpp files,
# exported as adabench::NAME.
function(adabench_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(adabench_${name} STATIC ${A_SOURCES})
  add_library(adabench::${name} ALIAS adabench_${name})
  target_include_directories(adabench_${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(adabench_${name} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  adabench_warnings(adabench_${name})
endfunction()

# adabench_add_gtest(MODULE SOURCES ... LIBS ... [LABELS ...]): binary test-MODULE, one CTest entry
# per test case, one label for ctest -L/-LE (gpu, slow, browser, no_asan).
function(adabench_add_gtest module)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(test-${module} ${A_SOURCES})
  target_link_libraries(test-${module} PRIVATE ${A_LIBS} GTest::gtest GTest::gtest_main Threads::Threads)
  target_compile_definitions(test-${module} PRIVATE
    ADABENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}" ADABENCH_BINARY_DIR="${CMAKE_BINARY_DIR}")
  adabench_warnings(test-${module})
  # gtest_discover_tests cannot carry a list-valued property, so each binary gets one label: its
  # special label (gpu, slow, browser, no_asan) when it has one, else the module name.
  if(A_LABELS)
    list(GET A_LABELS 0 labels)
  else()
    set(labels ${module})
  endif()
  gtest_discover_tests(test-${module}
    TEST_PREFIX "${module}."
    PROPERTIES LABELS "${labels}" ENVIRONMENT "ADABENCH_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 120)
endfunction()
