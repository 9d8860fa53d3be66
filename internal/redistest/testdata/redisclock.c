// Test helper: an LD_PRELOAD shim that adds an offset (seconds, read from the
// file named by REDISCLOCK_OFFSET_FILE on each call) to the wall clock of the
// process it is loaded into (redis-server): gettimeofday,
// clock_gettime(CLOCK_REALTIME) and time. The monotonic clock is left alone,
// as a real step of the system clock leaves it. It steps Redis's TIME, and
// its expiries, as its host's NTP or a VM restore would.
// Build: gcc -shared -fPIC -O2 -o redisclock.so redisclock.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static long offset(void) {
	const char *p = getenv("REDISCLOCK_OFFSET_FILE");
	if (!p) return 0;
	int fd = open(p, O_RDONLY);
	if (fd < 0) return 0;
	char buf[32] = {0};
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	return strtol(buf, NULL, 10);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
	static int (*real)(clockid_t, struct timespec *);
	if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
	int r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
	return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
	(void)tz;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
	return 0;
}

time_t time(time_t *t) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t) *t = ts.tv_sec;
	return ts.tv_sec;
}
