// The floor for an open-loop generator on this machine: the least a client can do to
// send Poisson arrivals over keep-alive HTTP/1.1 and read the answers. One thread, one
// epoll, one absolute timerfd for the next arrival, connections opened beforehand, no
// records, no statistics, no parsing beyond counting bytes. The benchmark prints its
// CPU per request beside Volley's open-loop figure: at 1,000 arrivals a second the
// cost is the thread waking up twice a request (the arrival, the answer), which on a
// VM costs tens of microseconds each, and no generator can do with less.
//
//   openloop-floor PORT RATE SECONDS  ->  {"rate":..,"sent":..,"done":..,"dropped":..,"lost":..,"cpu_s":..}
//   (dropped: no idle connection at an arrival; lost: the server closed a busy one)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define CONNS 256
#define TIMER 0xffffffffu

// The body of the benchmark's wrk script (scripts/bench.sh).
static const char BODY[] = "{\"model\":\"tiny\",\"prompt\":\"hello hello hello hello hello hello hello hello\",\"max_tokens\":4}";
static char req[512];
static int req_len, port, answer_len;
static int fds[CONNS], busy[CONNS], got[CONNS];

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "openloop-floor: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void watch(int ep, int i) {
    fds[i] = dial();
    fcntl(fds[i], F_SETFL, O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
}

static void arm(int tfd, double at) {
    struct itimerspec it = {{0, 0}, {(time_t)at, (long)((at - (time_t)at) * 1e9)}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: openloop-floor PORT RATE SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    req_len = snprintf(req, sizeof req,
                       "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       port, strlen(BODY), BODY);
    static char buf[1 << 16];

    // The answer's length, from one request (the endpoint answers the same every time).
    int probe = dial();
    if (write(probe, req, req_len) != req_len) return 1;
    double until = now_s() + 5;
    while (answer_len < 4 || !strstr(buf, "\r\n\r\n")) {
        int r = read(probe, buf + answer_len, sizeof buf - 1 - answer_len);
        if (r <= 0 || now_s() > until) return fprintf(stderr, "openloop-floor: no answer\n"), 1;
        answer_len += r;
        buf[answer_len] = 0;
    }
    char *cl = strcasestr(buf, "content-length:");
    if (!cl) return fprintf(stderr, "openloop-floor: the answer has no content-length\n"), 1;
    answer_len = (int)(strstr(buf, "\r\n\r\n") + 4 - buf) + atoi(cl + 15);
    close(probe);

    int ep = epoll_create1(0);
    for (int i = 0; i < CONNS; i++) watch(ep, i);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event te = {.events = EPOLLIN, .data.u32 = TIMER};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);

    long sent = 0, done = 0, dropped = 0, lost = 0;
    srand48(1);
    double start = now_s(), next = start, c0 = cpu_s();
    next += -log(1 - drand48()) / rate;
    arm(tfd, next);
    while (now_s() < start + seconds + 0.5 && (next < start + seconds || done + lost < sent)) {
        struct epoll_event ev[64];
        int n = epoll_wait(ep, ev, 64, 100);
        for (int k = 0; k < n; k++) {
            uint32_t i = ev[k].data.u32;
            if (i == TIMER) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0) continue;
                double t = now_s();
                // Every arrival due by now, on the first idle connection.
                for (; next <= t && next < start + seconds; next += -log(1 - drand48()) / rate) {
                    int c = 0;
                    while (c < CONNS && busy[c]) c++;
                    if (c == CONNS || write(fds[c], req, req_len) != req_len) {
                        dropped++;
                        continue;
                    }
                    busy[c] = 1;
                    got[c] = 0;
                    sent++;
                }
                if (next < start + seconds) arm(tfd, next);
                continue;
            }
            int r;
            while ((r = read(fds[i], buf, sizeof buf)) > 0) got[i] += r;
            if (r == 0) {
                // The server closed it: a new connection takes its place.
                epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
                close(fds[i]);
                watch(ep, i);
                if (busy[i]) lost++;
                busy[i] = 0;
            } else if (busy[i] && got[i] >= answer_len) {
                busy[i] = 0;
                done++;
            }
        }
    }
    printf("{\"rate\": %.1f, \"sent\": %ld, \"done\": %ld, \"dropped\": %ld, \"lost\": %ld, \"cpu_s\": %.6f}\n", rate, sent,
           done, dropped, lost, cpu_s() - c0);
    return 0;
}
