/*
 * pause — PID 1 of a reuseport-pod sandbox container.
 *
 * The sandbox only exists to own a network namespace (and the published
 * port) that the replicas join with NetworkMode "container:<sandbox>".  Its
 * PID 1 therefore has three jobs, the same as Kubernetes' pause container:
 *
 *   1. block forever without using CPU;
 *   2. exit 0 at once on SIGTERM / SIGINT / SIGHUP, because the kernel drops
 *      signals that PID 1 of a PID namespace has no handler for: a `sleep`
 *      there makes `docker stop` wait its full 10 s timeout, then SIGKILL;
 *   3. reap zombies: orphans inside the sandbox's PID namespace are
 *      re-parented to PID 1, and nobody else would wait() for them.
 *
 * SIGHUP is treated like SIGTERM: a sandbox has no configuration to reload,
 * and exiting matches what SIGHUP does to any process that is not PID 1, so
 * the program behaves the same inside and outside a container.
 *
 * Because the sandbox image contains nothing but this file, it also answers
 * the one question the launcher has to ask inside the sandbox's namespace:
 *
 *   pause --listeners PORT   prints how many TCP sockets are in LISTEN state
 *                            on local port PORT (IPv4 and IPv6), then exits 0.
 *                            Every SO_REUSEPORT listener is its own line in
 *                            /proc/net/tcp{,6}, so N replicas listening = N.
 *   pause --accepts IP PORT  exits 0 when a TCP connection from this network
 *                            namespace to IP:PORT is accepted within a second,
 *                            1 when it is refused or times out.  A DNAT pod's
 *                            replicas have namespaces of their own, so the
 *                            launcher asks from the sandbox (where the NAT
 *                            rules send the traffic) whether each one accepts.
 *   pause --version          prints the program's version.
 *
 * Signals are handled synchronously (blocked, then collected with
 * sigwaitinfo) rather than in asynchronous handlers: no code runs in signal
 * context, and a blocked signal stays pending even for PID 1, whose default
 * dispositions the kernel would otherwise discard (tini does the same).
 *
 * Built as a static executable (scripts/build-prebuilds.sh, for x64 and arm64)
 * so that it runs in a FROM scratch image with no loader or libraries.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PAUSE_VERSION
#define PAUSE_VERSION "1.0.0"
#endif

#define PROG "pause"

/* /proc/net/tcp "st" column value for TCP_LISTEN (include/net/tcp_states.h). */
#define TCP_LISTEN_STATE 0x0A

/* Exit codes: 0 success, 1 runtime failure, 2 bad usage (like most CLIs). */
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    /* Nothing useful can be done if printing the usage fails. */
    (void)fprintf(out,
                  "usage: " PROG "                     block until SIGTERM/SIGINT/SIGHUP, reap children\n"
                  "       " PROG " --listeners PORT    print the number of TCP listeners on PORT\n"
                  "       " PROG " --accepts IP PORT   exit 0 when IP:PORT accepts a TCP connection\n"
                  "       " PROG " --version           print the version\n");
}

/*
 * Parses a decimal TCP port 1..65535.  strtol alone accepts leading blanks,
 * signs and trailing junk; a launcher bug should fail loudly, not count
 * listeners on port 0.
 */
static int parse_port(const char *s, unsigned *port)
{
    const char *p;
    unsigned long v = 0;

    if (s == NULL || *s == '\0')
        return -1;
    for (p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/*
 * Adds to *count the LISTEN sockets on local port `port` listed in `path`
 * (/proc/net/tcp or /proc/net/tcp6, which show the reading process's own
 * network namespace).  A missing file counts zero only when `optional` (tcp6
 * is absent when IPv6 is disabled).  Returns 0, or -1 after printing why.
 *
 * Line format (after one header line):
 *   "  sl  local_address rem_address   st tx_queue ..."
 *   "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 ..."
 * The local address is hex, 8 digits for IPv4 and 32 for IPv6; the port is
 * 4 hex digits.
 */
static int count_listeners(const char *path, unsigned port, int optional, unsigned long *count)
{
    FILE *f;
    char line[512];
    int rc = 0;
    int first = 1;
    int partial = 0; /* inside a line longer than the buffer */

    f = fopen(path, "re");
    if (f == NULL) {
        if (optional && errno == ENOENT)
            return 0;
        (void)fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strlen(line);
        int was_partial = partial;
        unsigned lport, st;

        partial = (len > 0 && line[len - 1] != '\n' && !feof(f));
        if (was_partial)
            continue; /* tail of an over-long line: already judged by its head */
        if (first) {
            first = 0; /* header */
            continue;
        }
        /* "%*[0-9A-Fa-f]" skips the address whatever its width. */
        if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) != 2) {
            (void)fprintf(stderr, PROG ": %s: unexpected line: %.80s\n", path, line);
            rc = -1;
            break;
        }
        if (lport == port && st == TCP_LISTEN_STATE)
            (*count)++;
    }
    if (rc == 0 && ferror(f)) {
        (void)fprintf(stderr, PROG ": %s: read error\n", path);
        rc = -1;
    }
    if (fclose(f) != 0 && rc == 0) {
        (void)fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

static int cmd_listeners(const char *arg)
{
    unsigned port;
    unsigned long count = 0;

    if (parse_port(arg, &port) != 0) {
        (void)fprintf(stderr, PROG ": --listeners: not a port (1-65535): %s\n", arg ? arg : "(none)");
        return EXIT_USAGE;
    }
    if (count_listeners("/proc/net/tcp", port, 0, &count) != 0)
        return EXIT_RUNTIME;
    if (count_listeners("/proc/net/tcp6", port, 1, &count) != 0)
        return EXIT_RUNTIME;
    /* The caller parses stdout, so a failed write must not look like "0". */
    if (printf("%lu\n", count) < 0 || fflush(stdout) != 0) {
        (void)fprintf(stderr, PROG ": writing to stdout failed\n");
        return EXIT_RUNTIME;
    }
    return EXIT_SUCCESS;
}

#define ACCEPT_TIMEOUT_MS 1000

/*
 * One non-blocking connect, bounded by ACCEPT_TIMEOUT_MS: a replica whose
 * address is not up yet must not hang the probe for the kernel's SYN
 * retries (over a minute).  Closing at once sends a FIN; the server sees
 * an empty connection, which servers ignore.
 */
static int cmd_accepts(const char *ip, const char *port_arg)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *addr;
    socklen_t len;
    unsigned port;
    int fd, err = 0, rc;
    socklen_t errlen = sizeof err;
    struct pollfd p;

    if (parse_port(port_arg, &port) != 0) {
        (void)fprintf(stderr, PROG ": --accepts: not a port (1-65535): %s\n", port_arg ? port_arg : "(none)");
        return EXIT_USAGE;
    }
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((unsigned short)port);
        addr = (struct sockaddr *)&a4;
        len = sizeof a4;
    } else if (inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((unsigned short)port);
        addr = (struct sockaddr *)&a6;
        len = sizeof a6;
    } else {
        (void)fprintf(stderr, PROG ": --accepts: not an IP address: %s\n", ip);
        return EXIT_USAGE;
    }
    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror(PROG ": socket");
        return EXIT_RUNTIME;
    }
    rc = connect(fd, addr, len);
    if (rc != 0 && errno == EINPROGRESS) {
        p.fd = fd;
        p.events = POLLOUT;
        do
            rc = poll(&p, 1, ACCEPT_TIMEOUT_MS);
        while (rc < 0 && errno == EINTR);
        if (rc == 0)
            err = ETIMEDOUT;
        else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0)
            err = errno;
    } else if (rc != 0) {
        err = errno;
    }
    (void)close(fd);
    if (err != 0) {
        (void)fprintf(stderr, PROG ": %s:%u: %s\n", ip, port, strerror(err));
        return EXIT_RUNTIME;
    }
    return EXIT_SUCCESS;
}

/* Collects every exited child; never blocks (more may exit later). */
static void reap_children(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0)
            continue;
        if (pid < 0 && errno == EINTR)
            continue;
        return; /* 0: children left but none exited; -1/ECHILD: no children */
    }
}

static int cmd_pause(void)
{
    sigset_t set;

    if (sigemptyset(&set) != 0 || sigaddset(&set, SIGTERM) != 0 || sigaddset(&set, SIGINT) != 0 ||
        sigaddset(&set, SIGHUP) != 0 || sigaddset(&set, SIGCHLD) != 0) {
        perror(PROG ": sigset");
        return EXIT_RUNTIME;
    }
    /* Blocked before anything can arrive, so no signal is lost between
     * here and the first sigwaitinfo. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        perror(PROG ": sigprocmask");
        return EXIT_RUNTIME;
    }
    /* Children that exited before we blocked SIGCHLD (none expected). */
    reap_children();

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);

        if (sig < 0) {
            if (errno == EINTR)
                continue; /* a signal outside `set` (e.g. SIGSTOP/SIGCONT) */
            perror(PROG ": sigwaitinfo");
            return EXIT_RUNTIME;
        }
        if (sig == SIGCHLD) {
            /* One pending SIGCHLD may stand for several exits: loop. */
            reap_children();
            continue;
        }
        /* SIGTERM, SIGINT, SIGHUP: a clean, immediate stop.  Nothing to
         * flush or release; the network namespace goes with the container. */
        return EXIT_SUCCESS;
    }
}

int main(int argc, char **argv)
{
    if (argc == 1)
        return cmd_pause();
    if (strcmp(argv[1], "--listeners") == 0) {
        if (argc != 3) {
            usage(stderr);
            return EXIT_USAGE;
        }
        return cmd_listeners(argv[2]);
    }
    if (strcmp(argv[1], "--accepts") == 0) {
        if (argc != 4) {
            usage(stderr);
            return EXIT_USAGE;
        }
        return cmd_accepts(argv[2], argv[3]);
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        if (printf(PROG " " PAUSE_VERSION "\n") < 0 || fflush(stdout) != 0)
            return EXIT_RUNTIME;
        return EXIT_SUCCESS;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    usage(stderr);
    return EXIT_USAGE;
}
