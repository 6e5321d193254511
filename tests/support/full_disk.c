/* LD_PRELOADed by the full-disk tests: files whose path matches one of the patterns in
 * PSMFLOW_TEST_FULL_DISK lie on a full disk, and every write to them fails with ENOSPC, as the
 * kernel answers when the disk fills (ulimit -f fails with EFBIG instead, and for every file).
 *
 * PSMFLOW_TEST_FULL_DISK is a list of fnmatch(3) patterns separated by ':', each matched against
 * the path as the program opened it (`*` also matches '/'). "PATTERN@N" lets the first N files
 * that match, in each process, be written: the disk fills after them. As on a real full disk,
 * writes over the bytes a file already holds (opened without O_TRUNC) still succeed: its blocks
 * are allocated. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { kMaxFd = 65536, kMaxPatterns = 16 };

static unsigned char full_fd[kMaxFd];
static off_t held[kMaxFd]; /* bytes the file held when opened on the full disk without O_TRUNC */
static int matched[kMaxPatterns];

/* Whether the next file opened at `path` for writing lies on the full disk. */
static int on_full_disk(const char* path) {
  const char* list = getenv("PSMFLOW_TEST_FULL_DISK");
  if (!list || !path) return 0;
  char buf[4096];
  strncpy(buf, list, sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  int index = 0;
  for (char *save = NULL, *p = strtok_r(buf, ":", &save); p && index < kMaxPatterns;
       p = strtok_r(NULL, ":", &save), ++index) {
    char* at = strrchr(p, '@');
    const int room = at ? atoi(at + 1) : 0;
    if (at) *at = '\0';
    if (fnmatch(p, path, 0) == 0) return ++matched[index] > room;
  }
  return 0;
}

static int mark(int fd, const char* path, int flags) {
  if (fd < 0 || fd >= kMaxFd) return fd;
  full_fd[fd] = (flags & (O_WRONLY | O_RDWR)) && on_full_disk(path);
  struct stat st;
  held[fd] = full_fd[fd] && !(flags & (O_TRUNC | O_APPEND)) && fstat(fd, &st) == 0 ? st.st_size : 0;
  return fd;
}

/* Whether n bytes written at `at` (-1: the file offset) need space the full disk lacks. */
static int refused_at(int fd, size_t n, off_t at) {
  if (fd < 0 || fd >= kMaxFd || !full_fd[fd]) return 0;
  if (at < 0) at = lseek(fd, 0, SEEK_CUR);
  if (at >= 0 && (off_t)(at + n) <= held[fd]) return 0;
  errno = ENOSPC;
  return 1;
}

static int refused(int fd, size_t n) { return refused_at(fd, n, -1); }

/* The C library's own function, found once. */
#define REAL(name)                       \
  static __typeof__(&name) real_##name; \
  if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

static mode_t mode_of(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

/* open and open64 (distinct symbols in glibc), each passing the mode only when there is one. */
#define OPEN_WRAPPER(name)                                 \
  int name(const char* path, int flags, ...) {             \
    REAL(name);                                            \
    va_list ap;                                            \
    va_start(ap, flags);                                   \
    const mode_t mode = mode_of(flags, ap);                \
    va_end(ap);                                            \
    return mark(real_##name(path, flags, mode), path, flags); \
  }
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

int openat(int dir, const char* path, int flags, ...) {
  REAL(openat);
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_of(flags, ap);
  va_end(ap);
  return mark(real_openat(dir, path, flags, mode), path, flags);
}

int creat(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write);
  return refused(fd, n) ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t at) {
  REAL(pwrite);
  return refused_at(fd, n, at) ? -1 : real_pwrite(fd, buf, n, at);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t at) {
  REAL(pwrite64);
  return refused_at(fd, n, at) ? -1 : real_pwrite64(fd, buf, n, at);
}

ssize_t writev(int fd, const struct iovec* v, int n) {
  REAL(writev);
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += v[i].iov_len;
  return refused(fd, total) ? -1 : real_writev(fd, v, n);
}

int close(int fd) {
  REAL(close);
  if (fd >= 0 && fd < kMaxFd) {
    full_fd[fd] = 0;
    held[fd] = 0;
  }
  return real_close(fd);
}
