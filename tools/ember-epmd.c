/* ember-epmd: ember's port mapper daemon, a drop-in for epmd.
 *
 * The command line is epmd's: daemon options (-port, -address, -daemon,
 * -d, -relaxed_command_check, and epmd's debug extras), and interactive
 * options (-names, -dump, -kill, -stop Name, -started) that talk to the
 * running daemon and print exactly what epmd prints, with its exit codes.
 * As in epmd an interactive option runs as soon as it is parsed and must be
 * the last argument.  The daemon itself is the library's em_epmd_srv. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <ember.h>

#include "../net/epmd_srv.h"

struct cli {
    int port;
    int debug;
    int daemon;
    int relaxed;
    int silent; /* -started */
    int packet_timeout_s;
    const char *addresses;
};

static void usage(void)
{
    fputs("usage: epmd [-d|-debug] [DbgExtra...] [-address List]\n"
          "            [-port No] [-daemon] [-relaxed_command_check]\n"
          "       epmd [-d|-debug] [-port No] [-names|-kill|-stop name]\n"
          "\n"
          "ember-epmd is ember's port mapper; it takes epmd's options.\n"
          "\n"
          "Regular options\n"
          "    -address List   listen on these comma-separated IP addresses\n"
          "                    (and on the loopback interface)\n"
          "    -port No        listen on port No (default 4369 or\n"
          "                    $ERL_EPMD_PORT)\n"
          "    -d, -debug      log to standard error; repeat for more\n"
          "                    (also remembers only 5 unused names)\n"
          "    -daemon         detach and run in the background\n"
          "    -relaxed_command_check\n"
          "                    allow -kill with registered nodes, and -stop\n"
          "\n"
          "DbgExtra options\n"
          "    -packet_timeout Seconds  close idle connections after this\n"
          "                             (default 60)\n"
          "    -delay_accept Seconds, -delay_write Seconds  (accepted,\n"
          "                             ignored)\n"
          "\n"
          "Interactive options\n"
          "    -names          list the names registered with the running\n"
          "                    port mapper\n"
          "    -kill           stop the running port mapper (only with no\n"
          "                    registered nodes, unless it runs relaxed)\n"
          "    -stop Name      unregister Name (relaxed port mapper only)\n"
          "    -dump           list registered and remembered names\n",
          stderr);
    exit(1);
}

static int positive(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*end == '\0' && v > 0 && v <= 65535) ? (int)v : 0;
}

/* ------------------------------------------------------ interactive */

static int call(const struct cli *c, const void *req, size_t len, em_buf *out)
{
    /* No timeout of note: epmd's command line waits as long as it takes. */
    int rc = em_epmd_call(NULL, c->port, req, len, 3600 * 1000, out);
    if (rc == EM_ECONNREFUSED || rc == EM_EINVAL) {
        if (!c->silent)
            fprintf(stderr, "epmd: Cannot connect to local epmd\n");
        exit(1);
    }
    return rc;
}

static void names_or_dump(const struct cli *c, uint8_t what)
{
    em_buf r = EM_BUF_INIT;
    call(c, &what, 1, &r);
    if (r.len < 4) {
        if (!c->silent)
            printf("epmd: no response from local epmd\n");
        exit(1);
    }
    if (!c->silent) {
        unsigned port = ((unsigned)r.data[0] << 24) | (r.data[1] << 16) |
                        (r.data[2] << 8) | r.data[3];
        printf("epmd: up and running on port %u with data:\n", port);
        fwrite(r.data + 4, 1, r.len - 4, stdout);
    }
    em_buf_free(&r);
    exit(0);
}

static void kill_cmd(const struct cli *c)
{
    em_buf r = EM_BUF_INIT;
    uint8_t req = 'k';
    call(c, &req, 1, &r);
    if (r.len >= 2) {
        if (r.data[0] == 'O' && r.data[1] == 'K') {
            printf("Killed\n");
            exit(0);
        }
        printf("Killing not allowed - living nodes in database.\n");
        exit(1);
    }
    printf("epmd: local epmd responded with <%.*s>\n", (int)r.len,
           (const char *)r.data);
    exit(1);
}

static void stop_cmd(const struct cli *c, const char *name)
{
    size_t n = strlen(name);
    if (n > 1000) {
        printf("epmd: Name too long!");
        exit(1);
    }
    char req[1 + 1000];
    req[0] = 's';
    memcpy(req + 1, name, n);
    em_buf r = EM_BUF_INIT;
    call(c, req, n + 1, &r);
    if (r.len >= 7) {
        printf("%.7s\n", (const char *)r.data);
        exit(0);
    }
    printf("epmd: local epmd responded with <%.*s>\n", (int)r.len,
           (const char *)r.data);
    exit(1);
}

/* ----------------------------------------------------------- daemon */

static em_epmd_srv *the_srv;

static void on_signal(int sig)
{
    (void)sig;
    if (the_srv)
        em_epmd_srv_stop(the_srv);
}

static void log_syslog(void *ud, int level, const char *line)
{
    (void)ud;
    (void)level;
    syslog(LOG_ERR, "ember-epmd: %s", line);
}

static void log_line(const struct cli *c, int level, const char *msg)
{
    if (level <= c->debug)
        em_epmd_srv_log_stderr(NULL, level, msg);
}

/* Detach as epmd does: fork twice (the parent returns to the shell, the
 * middle child leads a new session and exits so the daemon can never
 * reacquire a terminal), chdir /, and stdio on /dev/null.  The sockets are
 * already bound, so whoever waits for the parent can connect at once. */
static void daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        exit(1);
    signal(SIGHUP, SIG_IGN);
    pid = fork();
    if (pid < 0)
        exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        exit(1);
    umask(0);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

/* A daemon started by a node (em_epmd_spawn, or a shell) must not keep
 * that program's sockets and pipes open for the rest of its life: close
 * every descriptor above stderr before opening our own. */
static void close_inherited_fds(void)
{
    struct rlimit rl;
    int max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max)
        max = (int)rl.rlim_cur;
    for (int fd = 3; fd < max; fd++)
        close(fd);
}

static int run_daemon(const struct cli *c)
{
    if (c->daemon)
        close_inherited_fds();
    /* Thousands of connections need thousands of descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char msg[64];
    snprintf(msg, sizeof msg, "epmd running - daemon = %d", c->daemon);
    log_line(c, 1, msg);

    em_epmd_srv_opts o;
    em_epmd_srv_opts_init(&o);
    o.port = c->port;
    o.addresses = c->addresses;
    o.relaxed = c->relaxed;
    o.debug = c->debug;
    o.packet_timeout_ms = c->packet_timeout_s * 1000;
    if (c->daemon) {
        openlog("ember-epmd", LOG_PID, LOG_DAEMON);
        o.log = log_syslog;
    }
    em_epmd_srv *s;
    int rc = em_epmd_srv_create(&o, &s);
    if (rc == EM_EEXIST)
        return 0; /* another port mapper has the port: as epmd, quietly */
    if (rc < 0) {
        snprintf(msg, sizeof msg, "cannot start: %s", em_strerror(rc));
        if (c->daemon)
            syslog(LOG_ERR, "ember-epmd: %s", msg);
        else
            log_line(c, 0, msg);
        return 1;
    }
    if (c->daemon)
        daemonize();
    the_srv = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = em_epmd_srv_run(s);
    the_srv = NULL;
    em_epmd_srv_destroy(s);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    c.port = em_epmd_default_port();
    c.relaxed = getenv("ERL_EPMD_RELAXED_COMMAND_CHECK") != NULL;
    c.addresses = getenv("ERL_EPMD_ADDRESS");
    c.packet_timeout_s = 60;

    argc--;
    argv++;
    while (argc > 0) {
        const char *a = argv[0];
        if (strcmp(a, "-d") == 0 || strcmp(a, "-debug") == 0) {
            c.debug++;
            argv++, argc--;
        } else if (strcmp(a, "-packet_timeout") == 0) {
            if (argc == 1 || (c.packet_timeout_s = positive(argv[1])) == 0)
                usage();
            argv += 2, argc -= 2;
        } else if (strcmp(a, "-delay_accept") == 0 ||
                   strcmp(a, "-delay_write") == 0) {
            if (argc == 1 || positive(argv[1]) == 0)
                usage();
            argv += 2, argc -= 2;
        } else if (strcmp(a, "-daemon") == 0) {
            c.daemon = 1;
            argv++, argc--;
        } else if (strcmp(a, "-relaxed_command_check") == 0) {
            c.relaxed = 1;
            argv++, argc--;
        } else if (strcmp(a, "-port") == 0) {
            if (argc == 1 || (c.port = positive(argv[1])) == 0)
                usage();
            argv += 2, argc -= 2;
        } else if (strcmp(a, "-address") == 0) {
            if (argc == 1)
                usage();
            c.addresses = argv[1];
            argv += 2, argc -= 2;
        } else if (strcmp(a, "-names") == 0 || strcmp(a, "-started") == 0) {
            if (argc != 1)
                usage();
            c.silent = strcmp(a, "-started") == 0;
            names_or_dump(&c, 'n');
        } else if (strcmp(a, "-dump") == 0) {
            if (argc != 1)
                usage();
            names_or_dump(&c, 'd');
        } else if (strcmp(a, "-kill") == 0) {
            if (argc != 1)
                usage();
            kill_cmd(&c);
        } else if (strcmp(a, "-stop") == 0) {
            if (argc != 2)
                usage();
            stop_cmd(&c, argv[1]);
        } else {
            usage();
        }
    }
    return run_daemon(&c);
}
