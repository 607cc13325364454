/* A wall clock that stands still, for a redis-server under test.
 *
 * LD_PRELOAD this into a process and set FROZEN_CLOCK_MS (milliseconds since
 * the epoch): gettimeofday, clock_gettime(CLOCK_REALTIME*) and time() then all
 * answer that instant; monotonic clocks (Redis' event loop and timers) run on.
 * Redis' stream ids are its wall clock, so two Redis processes frozen at the
 * same instant hand out the same ids for different entries: the reissue a
 * Redis whose clock is behind the one before it (restarted on a host whose
 * clock was stepped back, a promoted replica on a host that is behind) does by
 * itself, made deterministic.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long frozen_ms(void) {
    const char *value = getenv("FROZEN_CLOCK_MS");
    return value ? atoll(value) : -1;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    long long ms = frozen_ms();
    if (ms < 0) {
        if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
        return real(tv, tz);
    }
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
    return 0;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    long long ms = frozen_ms();
    if (ms < 0 || (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE)) {
        if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
        return real(id, ts);
    }
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (ms % 1000) * 1000000;
    return 0;
}

time_t time(time_t *out) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (out) *out = tv.tv_sec;
    return tv.tv_sec;
}
