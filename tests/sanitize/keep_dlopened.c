/* LD_PRELOADed under ASan by tools/test: dlclose does nothing, so that the memory Open MPI's
 * components keep until exit is reported with their names (and suppressed by lsan.supp), not as
 * leaks from an "<unknown module>" that was already unloaded. */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
