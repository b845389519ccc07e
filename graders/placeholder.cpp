// Placeholder so the library exists before its first real source lands; delete it then.
namespace adabench {
int graders_placeholder() { return 0; }
}  // namespace adabench
