/*
 * libevg_worker_env.so — loaded into every worker with LD_PRELOAD by the core (src/supervisor,
 * "Token passing"). Before the runtime's main() it:
 *   1. makes the process non-dumpable (PR_SET_DUMPABLE 0): /proc/<pid>/environ, mem, fd, maps
 *      become root-only, and processes of the same uid can no longer ptrace it;
 *   2. reads AWS_CONTAINER_AUTHORIZATION_TOKEN from the inherited pipe on fd $EVERGREEN_TOKEN_FD
 *      and closes it;
 *   3. puts the token into this process's own environment with setenv(3) — in-process only:
 *      /proc/<pid>/environ shows the environment the process was started with, which never held
 *      the token — so Python's os.environ, Node's process.env, Java's System.getenv and the C
 *      SDK's getenv find it where the genuine v1 SDKs look;
 *   4. removes EVERGREEN_TOKEN_FD and itself from LD_PRELOAD, so programs the function starts do
 *      not load it again.
 * Without EVERGREEN_TOKEN_FD it does nothing. Plain C, libc only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void evg_drop_self_from_preload(void) {
  const char* pre = getenv("LD_PRELOAD");
  if (pre == NULL) return;
  /* The core puts this library first: "<this>[:<the function's own LD_PRELOAD>]". */
  const char* rest = strpbrk(pre, ": ");
  if (rest == NULL || rest[1] == '\0') {
    unsetenv("LD_PRELOAD");
  } else {
    char* copy = strdup(rest + 1);
    if (copy != NULL) {
      setenv("LD_PRELOAD", copy, 1);
      free(copy);
    }
  }
}

__attribute__((constructor)) static void evg_worker_env_init(void) {
  const char* fd_text = getenv("EVERGREEN_TOKEN_FD");
  if (fd_text == NULL) return;
  int fd = atoi(fd_text);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  char buf[512];
  size_t n = 0;
  while (fd >= 0 && n < sizeof buf - 1) {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  if (fd >= 0) close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) --n;
  buf[n] = '\0';
  if (n > 0) setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", buf, 1);
  explicit_bzero(buf, sizeof buf);
  unsetenv("EVERGREEN_TOKEN_FD");
  evg_drop_self_from_preload();
}
