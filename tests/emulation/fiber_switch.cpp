// adabench_fiber_switch(save_sp, new_sp): saves the callee-saved registers on the current stack,
// stores the stack pointer in *save_sp, and resumes the stack new_sp (x86-64 System V). The
// emulated thread blocks (block_emulation.h) switch fibers with it: a few instructions instead of
// swapcontext's signal-mask system call (under AddressSanitizer they announce each switch to it).
// Elsewhere (other CPUs) they use ucontext.
#if defined(__x86_64__)
asm(R"(
    .pushsection .text
    .globl adabench_fiber_switch
    .type adabench_fiber_switch, @function
adabench_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size adabench_fiber_switch, .-adabench_fiber_switch
    .popsection
)");
#endif
