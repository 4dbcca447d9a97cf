/* test_node.c: this program as a node (net/node.c): em_node_start_opts and
 * em_node_stop, again and again in one process, and how starting fails.
 * A port mapper of our own runs on a thread (epmdtest.h).  Leaks are
 * checked by the ASan build; threads left behind by counting
 * /proc/self/task. */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "logcap.h"
#include "dist_int.h"
#include "epmdtest.h"
#include "rttest.h"

#define A(s) em_atom(s)

/* ---- helpers ---- */

/* The entries of directory dir (not . and ..). */
static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int threads_now(void)
{
    return entries_in("/proc/self/task");
}

static void opts_for(em_node_opts *o, const char *name)
{
    em_node_opts_init(o);
    o->name = name;
    o->cookie = "nodetest";
    o->epmd_port = epmd_port;
    o->no_epmd_start = true;
    o->quiet = true;
}

/* Whether our port mapper knows `alive` (0), or not (EM_ENOTFOUND). */
static int epmd_knows(const char *alive)
{
    em_epmd_node_info info;
    return em_epmd_port_please("127.0.0.1", alive, epmd_port, 5000, &info);
}

/* The port mapper learns of a stop when it sees the registration's
 * socket close: wait until it has. */
static void wait_unregistered(const char *alive)
{
    int64_t end = rt_now_ms() + 20000;
    while (epmd_knows(alive) == 0 && rt_now_ms() < end)
        usleep(2000);
    ck_assert_em_err(epmd_knows(alive), EM_ENOTFOUND);
}

/* A TCP port nothing listens on (bound, then let go). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- start and stop ---- */

/* Start and stop twenty times in one process: each start registers the name
 * with the port mapper and listens, each stop unregisters it; a second
 * stop and a start while running are refused; the threads after every stop
 * are those after the first (start spawns processes, not threads, and
 * leaves none behind). */
START_TEST(start_stop_repeatedly)
{
    epmd_start();
    em_node_opts o;
    opts_for(&o, "again@localhost");
    int base = -1;
    for (int i = 0; i < 20; i++) {
        ck_assert_em_ok(em_node_start_opts(&o));
        ck_assert_int_gt(em_node_port(), 0);
        ck_assert_str_eq(em_atom_text(em__nd.name, NULL), "again@localhost");
        ck_assert_em_ok(epmd_knows("again"));
        ck_assert_em_err(em_node_start_opts(&o), EM_EEXIST);
        em_term l = em_nodes();
        ck_assert(l == EM_NIL);
        ck_assert_em_ok(em_node_stop());
        ck_assert_em_err(em_node_stop(), EM_ESTATE);
        ck_assert_em_err(em_node_port(), EM_ESTATE);
        wait_unregistered("again");
        if (base < 0)
            base = threads_now();
        else
            ck_assert_int_eq(threads_now(), base);
    }
    /* the node's processes (acceptor, net_kernel) are gone: em_run
     * returns */
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}
END_TEST

/* A bad name is EM_EINVAL, and nothing is left: no node, the name not
 * registered, a good start afterwards works. */
START_TEST(start_bad_name)
{
    epmd_start();
    static const char *bad[] = {"", "@host", "a b@host", "al!ve@host", "a@", "a@b@c",
                                "short@dotted.host" /* short names have no dots */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        em_node_opts o;
        opts_for(&o, bad[i]);
        o.quiet = false;
        logcap_begin();
        int rc = em_node_start_opts(&o);
        int lines = logcap_end(NULL);
        ck_assert_msg(rc == EM_EINVAL, "%s: %s", bad[i], em_err_name(rc));
        ck_assert_int_eq(lines, 0);
        ck_assert_em_err(em_node_port(), EM_ESTATE);
    }
    ck_assert_em_err(em_node_start(NULL, "c"), EM_EINVAL);
    em_node_opts o;
    opts_for(&o, "good@localhost");
    ck_assert_em_ok(em_node_start_opts(&o));
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    epmd_stop();
}
END_TEST

/* A distribution port already taken: EM_EIO, one log line naming the port,
 * nothing registered, no node. */
START_TEST(start_port_taken)
{
    epmd_start();
    int port;
    int fd = listener_on(INADDR_ANY, &port);
    em_node_opts o;
    opts_for(&o, "taken@localhost");
    o.listen_port = port;
    o.quiet = false;
    char want[64];
    snprintf(want, sizeof want, "port %d", o.listen_port);
    logcap_begin();
    int rc = em_node_start_opts(&o);
    int lines = logcap_end(want);
    ck_assert_em_err(rc, EM_EIO);
    ck_assert_int_eq(lines, 1);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
    ck_assert_em_err(epmd_knows("taken"), EM_ENOTFOUND);
    close(fd);
    epmd_stop();
}
END_TEST

/* The port mapper's name taken by another node: EM_EEXIST, no node. */
START_TEST(start_name_taken)
{
    epmd_start();
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "dup", 1234);
    em_epmd_reg *reg = NULL;
    ck_assert_em_ok(em_epmd_register(&info, epmd_port, 5000, &reg, NULL));
    em_node_opts o;
    opts_for(&o, "dup@localhost");
    ck_assert_em_err(em_node_start_opts(&o), EM_EEXIST);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
    em_epmd_reg_close(reg);
    epmd_stop();
}
END_TEST

/* No port mapper answers: with no_epmd_start, EM_ECONNREFUSED and no node;
 * allowed to start one but with no ember-epmd to run, EM_ENOEPMD and one
 * log line naming where it looked. */
START_TEST(start_no_port_mapper)
{
    em_node_opts o;
    opts_for(&o, "lonely@localhost");
    o.epmd_port = free_port();
    ck_assert_em_err(em_node_start_opts(&o), EM_ECONNREFUSED);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
    o.no_epmd_start = false;
    o.epmd_path = "/nonexistent/dir/ember-epmd";
    o.quiet = false;
    logcap_begin();
    int rc = em_node_start_opts(&o);
    int lines = logcap_end("/nonexistent/dir/ember-epmd");
    ck_assert_em_err(rc, EM_ENOEPMD);
    ck_assert_int_eq(lines, 1);
    ck_assert_em_err(em_node_port(), EM_ESTATE);
}
END_TEST

/* ---- stop while a connection is up, and from a process ---- */

static int peer_fd;
static _Atomic int got_up, got_down;
static em__dconn *conn;
static int conn_fd;

/* The reader of a connection brought up by hand over a socket pair (the
 * handshake's part is test_dist_handshake's): em__dconn_run returns when
 * the connection is down.  The reference em__dconn_get gave is the
 * process's, given back by conn_put however it ends (conn_spawn), as the
 * connector's is. */
static void conn_proc(void *arg)
{
    em__dconn_run(arg, conn_fd, NULL, 0, EM__DF_MINE, 7);
}

static void conn_put(void *arg)
{
    em__dconn_put(arg);
}

static bool conn_spawn(void)
{
    em_spawn_opts o = {.on_exit = conn_put};
    return em_spawn_opt(conn_proc, conn, &o) != EM_NONE;
}

/* Subscribes to node events, then brings the connection up, and counts
 * the events for peer@localhost until a nodedown (and any other nodedown
 * within 300 ms after it). */
static void watcher_proc(void *arg)
{
    (void)arg;
    CHECK(em_monitor_nodes(true) == 0);
    CHECK(conn_spawn());
    em_term up = em_tuple(2, A("nodeup"), A("peer@localhost"));
    em_term down = em_tuple(2, A("nodedown"), A("peer@localhost"));
    em_term m;
    while (em_receive_any(20000, &m) == 0) {
        if (em_equal(m, up)) {
            atomic_fetch_add(&got_up, 1);
        } else if (em_equal(m, down)) {
            atomic_fetch_add(&got_down, 1);
            while (em_receive_any(300, &m) == 0)
                if (em_equal(m, down))
                    atomic_fetch_add(&got_down, 1);
            break;
        }
    }
    em_drop(up);
    em_drop(down);
}

static bool is_up(void)
{
    em_term l = em_nodes();
    bool up = l != EM_NIL;
    em_drop(l);
    return up;
}

static void stopper_proc(void *arg)
{
    (void)arg;
    int64_t end = rt_now_ms() + 20000;
    while (!(is_up() && atomic_load(&got_up)) && rt_now_ms() < end)
        em_sleep(2);
    CHECK(is_up());
    CHECK(em_node_stop() == 0);
}

/* Starts the node me@localhost and makes the pending entry of
 * peer@localhost (conn, one reference ours), its socket pair in conn_fd
 * (ember's end) and peer_fd: conn_proc then brings it up. */
static void conn_setup(void)
{
    epmd_start();
    em_node_opts o;
    opts_for(&o, "me@localhost");
    ck_assert_em_ok(em_node_start_opts(&o));
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    conn_fd = sv[0];
    peer_fd = sv[1];
    bool created;
    conn = em__dconn_get(A("peer@localhost"), true, &created);
    ck_assert_ptr_nonnull(conn);
}

/* em_node_stop with a connection up (from a process, or from a plain
 * thread: "Thread: any"): the connection goes down, its peer sees the
 * socket close, monitor_nodes subscribers get one nodedown, em_nodes is
 * [] and the reader is gone (em_run returns). */
static void stop_with_connection(bool from_process)
{
    conn_setup();
    ck_assert(em_spawn(watcher_proc, NULL) != EM_NONE);
    if (from_process) {
        ck_assert(em_spawn(stopper_proc, NULL) != EM_NONE);
    } else {
        int64_t end = rt_now_ms() + 20000;
        while (!(is_up() && atomic_load(&got_up)) && rt_now_ms() < end)
            usleep(2000);
        ck_assert(is_up());
        ck_assert_em_ok(em_node_stop());
    }
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, from_process ? 4 : 2);
    ck_assert_int_eq(got_up, 1);
    ck_assert_int_eq(got_down, 1);
    ck_assert(!is_up());
    ck_assert_em_err(em_node_stop(), EM_ESTATE);
    /* the peer sees the close */
    int fl = fcntl(peer_fd, F_GETFL);
    ck_assert_int_eq(fcntl(peer_fd, F_SETFL, fl & ~O_NONBLOCK), 0);
    uint8_t buf[64];
    ssize_t r;
    while ((r = read(peer_fd, buf, sizeof buf)) > 0)
        ; /* ticks, if any */
    ck_assert_int_eq(r, 0);
    close(peer_fd);
    epmd_stop();
}

/* em_node_args takes erl's node flags out of argv and leaves the rest in
 * order: -sname/-name (long or short), -setcookie, -hidden (published
 * false), -kernel net_ticktime N; without a name, or without the tick
 * time's value, it is EM_EINVAL. */
START_TEST(node_args_flags)
{
    char *argv[] = {"prog", "-sname", "kv", "one", "-hidden", "-setcookie", "abc", "-kernel",
                    "net_ticktime", "7", "two", NULL};
    int argc = 11;
    em_node_opts o;
    em_node_opts_init(&o);
    o.published = true;
    ck_assert_em_ok(em_node_args(&argc, argv, &o));
    ck_assert_int_eq(argc, 3);
    ck_assert_str_eq(argv[1], "one");
    ck_assert_str_eq(argv[2], "two");
    ck_assert_ptr_null(argv[3]);
    ck_assert_str_eq(o.name, "kv");
    ck_assert(!o.longnames);
    ck_assert_str_eq(o.cookie, "abc");
    ck_assert(!o.published);
    ck_assert_int_eq(o.net_ticktime, 7);

    char *argv2[] = {"prog", "-name", "kv@127.0.0.1", NULL};
    int argc2 = 3;
    em_node_opts_init(&o);
    ck_assert_em_ok(em_node_args(&argc2, argv2, &o));
    ck_assert(o.longnames && argc2 == 1);

    char *argv3[] = {"prog", "-hidden", NULL};
    int argc3 = 2;
    em_node_opts_init(&o);
    ck_assert_em_err(em_node_args(&argc3, argv3, &o), EM_EINVAL);

    char *argv4[] = {"prog", "-sname", "kv", "-kernel", "net_ticktime", NULL}; /* no value */
    int argc4 = 5;
    em_node_opts_init(&o);
    ck_assert_em_err(em_node_args(&argc4, argv4, &o), EM_EINVAL);
}
END_TEST

START_TEST(stop_with_connection_up_from_process)
{
    stop_with_connection(true);
}
END_TEST

START_TEST(stop_with_connection_up_from_thread)
{
    stop_with_connection(false);
}
END_TEST

/* Brings the connection up, then stops the runtime (holding no term: it
 * is killed too). */
static void runtime_stopper_proc(void *arg)
{
    (void)arg;
    CHECK(conn_spawn());
    int64_t end = rt_now_ms() + 20000;
    while (!is_up() && rt_now_ms() < end)
        em_sleep(2);
    CHECK(is_up());
    conn = NULL; /* only the runtime's references remain */
    em_stop(0);
}

START_TEST(runtime_stopped_with_a_connection_up_leaks_nothing)
{
    /* em_stop without em_node_stop: em_run kills the connection's reader
     * and writer where they wait, without resuming them; their references
     * to the connection go back through their exit hooks, and
     * em_node_stop then frees it (under ASan a leak fails the test at
     * exit: with the references on the killed processes' stacks, the
     * entry and its 256 KiB read buffer leaked, as tests/interop/dist.sh
     * once showed). */
    conn_setup();
    ck_assert(em_spawn(runtime_stopper_proc, NULL) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
    em_node_stop(); /* the table's reference */
    close(peer_fd);
    epmd_stop();
}
END_TEST

/* ---- a runtime stopped while a connection is being made ---- */

/* Open file descriptors of this process. */
static int fds_now(void)
{
    return entries_in("/proc/self/fd") - 1; /* the directory's own */
}

/* Sends to {x, Node} (the connector starts), waits 300 ms (it is inside
 * its lookup, its dial or its handshake by then), stops the runtime. */
static void dial_then_stop_proc(void *arg)
{
    em_term to = em_tuple(2, A("x"), A((const char *)arg));
    CHECK(em_send(to, A("hello")) == 0);
    em_drop(to);
    em_sleep(300);
    em_stop(0);
}

static int client_fd = -1;             /* accept_then_stop_proc's */
static em_epmd_reg *reg_at_end;        /* a registration of the test's */
static int lfd_at_end = -1;            /* a silent listener of the test's */

/* Connects to the node's distribution port and says nothing (the
 * accepted side waits in its handshake), waits 300 ms, stops the
 * runtime. */
static void accept_then_stop_proc(void *arg)
{
    (void)arg;
    client_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)em_node_port())};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(client_fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    em_sleep(300);
    em_stop(0);
}

/* Starts me@localhost (its handshake steps limited to setup_ms if > 0;
 * its lookups sent to lookup_port from then on if > 0), runs proc(arg),
 * which stops the runtime, and stops the node; the descriptors open then
 * must be those open before (`before`). */
static void stopped_mid_connect(int before, int setup_ms, int lookup_port, em_proc_fn proc, void *arg)
{
    em_node_opts o;
    opts_for(&o, "me@localhost");
    if (setup_ms > 0)
        o.setup_ms = setup_ms;
    ck_assert_em_ok(em_node_start_opts(&o));
    if (lookup_port > 0)
        em__nd.epmd_port = lookup_port;
    ck_assert(em_spawn(proc, arg) != EM_NONE);
    ck_assert_int_eq(em_run(), 0);
    em_node_stop();
    if (client_fd >= 0)
        close(client_fd);
    em_epmd_reg_close(reg_at_end);
    if (lfd_at_end >= 0)
        close(lfd_at_end);
    client_fd = lfd_at_end = -1;
    reg_at_end = NULL;
    epmd_stop();
    ck_assert_int_eq(fds_now(), before);
}

/* The node's processes killed by em_run's stop where they wait (never
 * resumed) while a connection is being made: each gives back what it held
 * (its socket, its lookup, its reference to the entry) in its exit hook.
 * Checked here: the open descriptors after em_run and em_node_stop are
 * those before the node started; under ASan also that no memory leaked. */

/* An accepted connection whose peer never speaks: the accepted side waits
 * in its handshake with the socket. */
START_TEST(runtime_stopped_mid_accept_leaks_nothing)
{
    int before = fds_now();
    epmd_start();
    stopped_mid_connect(before, 0, 0, accept_then_stop_proc, NULL);
}
END_TEST

/* A node registered with the port mapper whose port never answers: the
 * connector waits in its handshake with its socket. */
START_TEST(runtime_stopped_mid_dial_leaks_nothing)
{
    int before = fds_now();
    epmd_start();
    int port;
    int lfd = silent_listener(&port);
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "silent", (uint16_t)port);
    ck_assert_em_ok(em_epmd_register(&info, epmd_port, 5000, &reg_at_end, NULL));
    lfd_at_end = lfd;
    stopped_mid_connect(before, 0, 0, dial_then_stop_proc, "silent@localhost");
}
END_TEST

/* A port mapper that never answers the lookup (the node started with the
 * test's, then pointed at a silent socket): the connector waits in
 * em_blocking; the stop waits for the lookup to time out (setup_ms), and
 * the connector, killed when it returns, frees the lookup (a leak under
 * ASan before). */
START_TEST(runtime_stopped_mid_lookup_leaks_nothing)
{
    int before = fds_now();
    epmd_start();
    int port;
    lfd_at_end = silent_listener(&port);
    stopped_mid_connect(before, 1000, port, dial_then_stop_proc, "ghost@localhost");
}
END_TEST

static Suite *node_suite(void)
{
    Suite *s = suite_create("node");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, start_stop_repeatedly);
    tcase_add_test(tc, start_bad_name);
    tcase_add_test(tc, start_port_taken);
    tcase_add_test(tc, start_name_taken);
    tcase_add_test(tc, start_no_port_mapper);
    tcase_add_test(tc, node_args_flags);
    tcase_add_test(tc, stop_with_connection_up_from_process);
    tcase_add_test(tc, stop_with_connection_up_from_thread);
    tcase_add_test(tc, runtime_stopped_with_a_connection_up_leaks_nothing);
    tcase_add_test(tc, runtime_stopped_mid_accept_leaks_nothing);
    tcase_add_test(tc, runtime_stopped_mid_dial_leaks_nothing);
    tcase_add_test(tc, runtime_stopped_mid_lookup_leaks_nothing);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(node_suite)
