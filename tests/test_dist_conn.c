/* test_dist_conn.c: a connection's life (net/dist_conn.c) and the node
 * table around it (net/dist_tab.c): accepted, up, down; dialled and
 * failed; the redial back-off, node events and the log, with no remote
 * node: a node of ours (port mapper on a thread: epmdtest.h) and, as its
 * peer, a plain thread that speaks the handshake with the state machine of
 * dist_handshake.c and then hand-made frames. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dist_int.h"
#include "poke.h"
#include "epmdtest.h"
#include "peertest.h"
#include "rttest.h"

#define A(s) em_atom(s)
#define ME PEERTEST_NODE
#define COOKIE PEERTEST_COOKIE

/* ---- the node, the log ---- */

static char log_path[64];
static int log_saved;
static int node_ticktime; /* seconds; 0: the default */

/* Start the node (not quiet), its log lines into a file. */
static void node_start(int setup_ms)
{
    epmd_start();
    fflush(stderr);
    snprintf(log_path, sizeof log_path, "/tmp/test_dist_conn.%d.log", (int)getpid());
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    log_saved = dup(2);
    dup2(fd, 2);
    close(fd);
    em_node_opts o;
    em_node_opts_init(&o);
    o.name = ME;
    o.longnames = true;
    o.cookie = COOKIE;
    o.epmd_port = epmd_port;
    o.no_epmd_start = true;
    o.setup_ms = setup_ms;
    o.net_ticktime = node_ticktime;
    ck_assert_em_ok(em_node_start_opts(&o));
}

/* The log lines that contain `what` (each echoed to the real stderr). */
static int log_lines(const char *what)
{
    fflush(stderr);
    FILE *f = fopen(log_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, what)) {
            n++;
            dprintf(log_saved, "(logged) %s", line);
        }
    fclose(f);
    return n;
}

static void node_end(void)
{
    fflush(stderr);
    dup2(log_saved, 2);
    close(log_saved);
    unlink(log_path);
    epmd_stop();
}

static int64_t deadline(void)
{
    return rt_now_ms() + 20000;
}

static void pause_a_little(void)
{
    if (em_self() != EM_NONE)
        em_sleep(2);
    else
        usleep(2000);
}

/* The state of node's entry in the table, 0 if there is none. */
static int entry_state(em_term node)
{
    em__dconn *c = em__dconn_get(node, false, NULL);
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    int st = c->state;
    pthread_mutex_unlock(&c->lock);
    em__dconn_put(c);
    return st;
}

/* ---- node events, counted ---- */

static _Atomic int ev_up, ev_down;
static em_term ev_node;
static _Atomic int watcher_ready, watcher_stop;

/* monitor_nodes subscriber: counts {nodeup, ev_node} and {nodedown,
 * ev_node} until told to stop. */
static void watcher_proc(void *arg)
{
    (void)arg;
    CHECK(em_monitor_nodes(true) == 0);
    atomic_store(&watcher_ready, 1);
    em_term up = em_tuple(2, A("nodeup"), ev_node);
    em_term down = em_tuple(2, A("nodedown"), ev_node);
    em_term m;
    while (!atomic_load(&watcher_stop)) {
        if (em_receive_any(10, &m) < 0)
            continue;
        if (em_equal(m, up))
            atomic_fetch_add(&ev_up, 1);
        else if (em_equal(m, down))
            atomic_fetch_add(&ev_down, 1);
    }
    em_drop(up);
    em_drop(down);
}

static void watcher_start(const char *node)
{
    ev_node = A(node);
    ck_assert(em_spawn(watcher_proc, NULL) != EM_NONE);
    int64_t end = deadline();
    while (!atomic_load(&watcher_ready) && rt_now_ms() < end)
        usleep(1000);
    ck_assert(atomic_load(&watcher_ready));
}

/* ---- a hand-made peer: tests/support/peertest.h ---- */

/* A pid of node `node` (as the peer's own processes would be). */
static em_term remote_pid(const char *node, uint32_t id)
{
    uint8_t b[300] = {131, 88, 119};
    size_t nl = strlen(node), k = 3;
    b[k++] = (uint8_t)nl;
    memcpy(b + k, node, nl);
    k += nl;
    uint32_t v[3] = {id, 0, 1};
    for (int i = 0; i < 3; i++) {
        b[k++] = (uint8_t)(v[i] >> 24);
        b[k++] = (uint8_t)(v[i] >> 16);
        b[k++] = (uint8_t)(v[i] >> 8);
        b[k++] = (uint8_t)v[i];
    }
    em_term p = EM_NONE;
    ck_assert_em_ok(em_etf_decode(b, k, NULL, NULL, &p));
    return p;
}

/* ---- accepted: pending -> up -> down ---- */

static _Atomic int echo_ok;

/* Registered `echo`: answers {hello, From} with {reply, 42} to From. */
static void echo_proc(void *arg)
{
    (void)arg;
    em_term from;
    if (em_receive(20000, "{hello, From}", &from) == 0) {
        CHECK(em_send(from, em_tuple(2, A("reply"), em_int(42))) == 0);
        atomic_store(&echo_ok, 1);
    }
}

static _Atomic int peer_result;
static int peer_fd = -1;
static _Atomic int peer_close;

/* The peer: handshake as peer@localhost, REG_SEND {hello, Self} to echo,
 * read the reply, then close when told. */
static void *peer_main(void *arg)
{
    (void)arg;
    int fd = peer_dial("peer@localhost", EM__DF_MINE);
    if (fd < 0) {
        atomic_store(&peer_result, -1);
        return NULL;
    }
    peer_fd = fd;
    em_term self = remote_pid("peer@localhost", 5);
    em_term ctl = em_tuple(4, em_int(6), em_dup(self), A(""), A("echo"));
    em_term msg = em_tuple(2, A("hello"), em_dup(self));
    int rc = peer_send(fd, ctl, msg);
    em_drop(ctl);
    em_drop(msg);
    em_term rctl = EM_NONE, rmsg = EM_NONE;
    if (rc == 0)
        rc = peer_recv(fd, &rctl, &rmsg);
    em_term want = em_tuple(2, A("reply"), em_int(42));
    /* SEND or SEND_SENDER: the destination pid is the last element */
    if (rc == 0 && !(em_equal(rmsg, want) && em_typeof(rctl) == EM_TYPE_TUPLE &&
                     em_equal(em_tuple_get(rctl, em_tuple_size(rctl) - 1), self)))
        rc = -2;
    em_drop(want);
    em_drop(rctl);
    em_drop(rmsg);
    em_drop(self);
    atomic_store(&peer_result, rc == 0 ? 1 : rc);
    while (!atomic_load(&peer_close))
        usleep(1000);
    close(fd);
    return NULL;
}

/* An accepted connection: once the handshake is done the entry is UP
 * ({nodeup} once, em_nodes lists it), a REG_SEND from the peer reaches the
 * registered process and its answer reaches the peer as a frame; the peer
 * closing takes it down: the entry leaves the table, DEAD, one {nodedown}
 * to monitor_nodes subscribers, and (a plain close) no log line. */
START_TEST(accepted_up_then_down)
{
    node_start(0);
    watcher_start("peer@localhost");
    em_term echo = em_spawn(echo_proc, NULL);
    ck_assert_em_ok(em_register(A("echo"), echo));
    ck_assert_int_eq(entry_state(A("peer@localhost")), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, peer_main, NULL), 0);
    int64_t end = deadline();
    while (atomic_load(&peer_result) == 0 && rt_now_ms() < end)
        usleep(1000);
    ck_assert_int_eq(peer_result, 1);
    ck_assert(atomic_load(&echo_ok));
    em__dconn *c = em__dconn_get(A("peer@localhost"), false, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->state, EM__C_UP);
    ck_assert_uint_eq(c->peer_creation, 77);
    em_term l = em_nodes();
    ck_assert_int_eq(em_list_length(l), 1);
    em_drop(l);
    while (atomic_load(&ev_up) == 0 && rt_now_ms() < end)
        usleep(1000);
    ck_assert_int_eq(ev_up, 1);
    ck_assert_int_eq(ev_down, 0);
    atomic_store(&peer_close, 1);
    pthread_join(th, NULL);
    while (atomic_load(&ev_down) == 0 && rt_now_ms() < end)
        usleep(1000);
    ck_assert_int_eq(ev_down, 1);
    ck_assert_int_eq(c->state, EM__C_DEAD);
    ck_assert_int_eq(entry_state(A("peer@localhost")), 0);
    em__dconn_put(c);
    /* no second nodedown, even when the node is stopped */
    ck_assert_em_ok(em_node_stop());
    usleep(100000);
    ck_assert_int_eq(ev_up, 1);
    ck_assert_int_eq(ev_down, 1);
    ck_assert_int_eq(log_lines("peer@localhost"), 0);
    atomic_store(&watcher_stop, 1);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 2);
    node_end();
}
END_TEST

/* The peer sends garbage after the handshake: the connection goes down
 * with one log line saying so, and one nodedown. */
static void *garbage_peer(void *arg)
{
    (void)arg;
    int fd = peer_dial("peer@localhost", EM__DF_MINE);
    if (fd < 0) {
        atomic_store(&peer_result, -1);
        return NULL;
    }
    static const uint8_t junk[] = {0, 0, 0, 3, 'x', 'y', 'z'};
    peer_send_all(fd, junk, sizeof junk);
    uint8_t b[64];
    /* the node closes: read until then */
    while (recv(fd, b, sizeof b, 0) > 0)
        ;
    close(fd);
    atomic_store(&peer_result, 1);
    return NULL;
}

START_TEST(garbage_takes_it_down_logged_once)
{
    node_start(0);
    watcher_start("peer@localhost");
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, garbage_peer, NULL), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(peer_result, 1);
    int64_t end = deadline();
    while (atomic_load(&ev_down) == 0 && rt_now_ms() < end)
        usleep(1000);
    ck_assert_int_eq(ev_up, 1);
    ck_assert_int_eq(ev_down, 1);
    ck_assert_int_eq(entry_state(A("peer@localhost")), 0);
    ck_assert_int_eq(log_lines("garbage packet"), 1);
    ck_assert_em_ok(em_node_stop());
    atomic_store(&watcher_stop, 1);
    ck_assert_int_eq(em_run(), 0);
    node_end();
}
END_TEST

/* ---- dialled: a node that is not there ---- */

#define GHOST "ghost@localhost"
static _Atomic int dial_done, dial_retries;

/* A monitor_node subscriber that gets the nodedown of one failed attempt
 * (dialled on demand by em_monitor_node, or at once in the back-off). */
static bool monitor_node_down(void)
{
    if (em_monitor_node(A(GHOST), true) != 0)
        return false;
    em_term down = em_tuple(2, A("nodedown"), A(GHOST));
    em_term m;
    bool ok = em_receive_any(20000, &m) == 0 && em_equal(m, down);
    em_drop(down);
    return ok;
}

static void ghost_proc(void *arg)
{
    (void)arg;
    /* the first attempt: a port mapper lookup that fails */
    CHECK(monitor_node_down());
    CHECK(entry_state(A(GHOST)) == 0);
    /* Inside the back-off a redial is refused: no entry, `barred`.  (On a
     * machine so slow that the 500 ms passed already, the dial is made
     * again, fails for the same reason, and the check is repeated.) */
    bool seen_barred = false;
    for (int i = 0; i < 20 && !seen_barred; i++) {
        bool created, barred;
        em__dconn *c = em__dconn_dial(A(GHOST), &created, &barred);
        if (c == NULL) {
            seen_barred = barred;
            break;
        }
        /* the window was over: dial for real, as a send would */
        atomic_fetch_add(&dial_retries, 1);
        CHECK(created);
        CHECK(em__dist_connector_spawn(c) == 0); /* takes our ref */
        int64_t end = deadline();
        while (entry_state(A(GHOST)) != 0 && rt_now_ms() < end)
            pause_a_little();
    }
    CHECK(seen_barred);
    /* a send inside the back-off is dropped at once: no entry */
    em_term to = em_tuple(2, A("x"), A(GHOST));
    CHECK(em_send(to, A("dropped")) == 0);
    em_drop(to);
    CHECK(entry_state(A(GHOST)) == 0);
    /* an explicit connect ends the back-off (the episode goes on) */
    em__dconn_unbar(A(GHOST), false);
    bool created, barred;
    em__dconn *c = em__dconn_dial(A(GHOST), &created, &barred);
    CHECK(c != NULL && created && !barred);
    /* a failure of an attempt that does not own the entry changes nothing */
    em__dconn_fail(c, c->owner + 1000, EM_EIO, "not mine");
    CHECK(c->state == EM__C_PENDING && entry_state(A(GHOST)) == EM__C_PENDING);
    /* the owner's failure for a new reason: logged, barred again, and its
     * code and reason kept for em_node_connect */
    em__dconn_fail(c, c->owner, EM_EAUTH, "reason two");
    CHECK(c->state == EM__C_DEAD && entry_state(A(GHOST)) == 0);
    char why[8];
    CHECK(em__dconn_last_fail(A(GHOST), why, sizeof why) == EM_EAUTH && strcmp(why, "reason ") == 0);
    CHECK(em__dconn_last_fail(A("never@dialled"), why, sizeof why) == 0 && why[0] == 0);
    em__dconn_put(c);
    /* the same reason again in the episode: not logged */
    em__dconn_unbar(A(GHOST), false);
    c = em__dconn_dial(A(GHOST), &created, &barred);
    CHECK(c != NULL && created);
    em__dconn_fail(c, c->owner, EM_EAUTH, "reason two");
    em__dconn_put(c);
    /* the episode over (forget: as when a connection comes up), the same
     * reason is logged again */
    em__dconn_unbar(A(GHOST), true);
    c = em__dconn_dial(A(GHOST), &created, &barred);
    CHECK(c != NULL && created);
    em__dconn_fail(c, c->owner, EM_EAUTH, "reason two");
    em__dconn_put(c);
    atomic_store(&dial_done, 1);
}

/* A node that cannot be reached: the attempt fails (monitor_node gets its
 * nodedown; monitor_nodes subscribers nothing, it never came up), one log
 * line for the episode however often it fails for that reason, a redial
 * within the back-off is refused, a send then is dropped without an entry,
 * and only the owning attempt's failure counts. */
START_TEST(dial_fails_backoff_one_log_line)
{
    node_start(0);
    watcher_start(GHOST);
    ck_assert(em_spawn(ghost_proc, NULL) != EM_NONE);
    int64_t end = deadline();
    while (!atomic_load(&dial_done) && rt_now_ms() < end)
        usleep(1000);
    ck_assert(atomic_load(&dial_done));
    usleep(100000); /* a nodedown sent by mistake would be here by now */
    ck_assert_int_eq(ev_up, 0);
    ck_assert_int_eq(ev_down, 0);
    ck_assert_int_eq(log_lines("port mapper lookup of ghost"), 1);
    ck_assert_int_eq(log_lines("reason two"), 2);
    ck_assert_int_eq(log_lines(GHOST), 3);
    ck_assert_em_ok(em_node_stop());
    atomic_store(&watcher_stop, 1);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 13 + 2 * atomic_load(&dial_retries));
    node_end();
}
END_TEST

/* ---- a send while the connection is pending ---- */

#define SLOW "slow@localhost"
static int slow_lfd;
static _Atomic int slow_done;

static void slow_sender(void *arg)
{
    (void)arg;
    /* The port mapper knows slow; its port accepts (the backlog) but never
     * answers the handshake: the attempt stays pending for setup_ms. */
    em_term to = em_tuple(2, A("x"), A(SLOW));
    CHECK(em_send(to, em_tuple(2, A("queued"), em_int(1))) == 0);
    em_drop(to);
    em__dconn *c = em__dconn_get(A(SLOW), false, NULL);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->state == EM__C_PENDING);
        CHECK(atomic_load(&c->queued) > 0);
    }
    /* the attempt fails after setup_ms: the queue goes with the entry */
    CHECK(em_monitor_node(A(SLOW), true) == 0);
    em_term down = em_tuple(2, A("nodedown"), A(SLOW));
    em_term m;
    CHECK(em_receive_any(20000, &m) == 0 && em_equal(m, down));
    em_drop(down);
    if (c) {
        CHECK(c->state == EM__C_DEAD);
        CHECK(atomic_load(&c->queued) == 0);
        em__dconn_put(c);
    }
    CHECK(entry_state(A(SLOW)) == 0);
    atomic_store(&slow_done, 1);
}

/* A send to a node whose connection is still being set up returns at once
 * (the message queued on the PENDING entry); when the attempt fails the
 * queue is dropped, monitor_nodes subscribers hear nothing, and the
 * failure is logged once. */
START_TEST(send_while_pending_does_not_block)
{
    node_start(1000);
    int port;
    slow_lfd = silent_listener(&port);
    em_epmd_node_info info;
    em_epmd_node_info_init(&info, "slow", (uint16_t)port);
    em_epmd_reg *reg = NULL;
    ck_assert_em_ok(em_epmd_register(&info, epmd_port, 5000, &reg, NULL));
    watcher_start(SLOW);
    ck_assert(em_spawn(slow_sender, NULL) != EM_NONE);
    int64_t end = deadline();
    while (!atomic_load(&slow_done) && rt_now_ms() < end)
        usleep(1000);
    ck_assert(atomic_load(&slow_done));
    usleep(100000);
    ck_assert_int_eq(ev_up, 0);
    ck_assert_int_eq(ev_down, 0);
    ck_assert_int_eq(log_lines(SLOW), 1);
    ck_assert_em_ok(em_node_stop());
    atomic_store(&watcher_stop, 1);
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(ok_count, 10);
    em_epmd_reg_close(reg);
    close(slow_lfd);
    node_end();
}
END_TEST

/* ---- ticks and the write side ---- */

/* Sends the node a tick, then reads what the node sends within ms: the
 * bytes read (ticks are 4 zero bytes; *nonzero set if any byte is not). */
static size_t tick_and_read(int fd, int ms, bool *nonzero)
{
    static const uint8_t tick[4];
    ck_assert_int_eq(peer_send_all(fd, tick, 4), 0);
    size_t got = 0;
    int64_t end = rt_now_ms() + ms;
    for (int64_t now; (now = rt_now_ms()) < end;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) <= 0)
            continue;
        uint8_t b[256];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        ck_assert_int_gt(r, 0); /* the node must not close */
        for (ssize_t i = 0; i < r; i++)
            *nonzero |= b[i] != 0;
        got += (size_t)r;
    }
    return got;
}

/* The peer peer@localhost dialled in and its connection up: the entry
 * (a reference of the caller's) and the peer's socket in *fd. */
static em__dconn *peer_up(int *fd)
{
    *fd = peer_dial("peer@localhost", EM__DF_MINE);
    ck_assert_int_ge(*fd, 0);
    em__dconn *c = em__dconn_get(A("peer@localhost"), false, NULL);
    ck_assert_ptr_nonnull(c);
    int64_t end = deadline();
    while (atomic_load(&c->state) != EM__C_UP && rt_now_ms() < end)
        usleep(1000);
    ck_assert_int_eq(c->state, EM__C_UP);
    return c;
}

/* Only the holder of the write side (c->writing: the writer with a batch,
 * or a sender's flush as it switches out, on another thread) writes to
 * the socket.  A tick the writer owes (its interval passed, or the peer's
 * tick to answer) waits while another holds it: written there, it would
 * land inside that holder's frame, and the peer would read garbage (erl
 * closed deep.sh's connection so, mid-way through a 72 MB echo).  Then,
 * with the side free again, the writer ticks as before. */
START_TEST(a_tick_is_never_written_while_another_writes)
{
    node_ticktime = 2; /* the writer ticks after 500 ms of silence */
    node_start(0);
    int fd;
    em__dconn *c = peer_up(&fd);
    bool nonzero = false;
    size_t got = 0;
    for (int i = 0; i < 10; i++) /* 2 s: the writer's own ticks come */
        got += tick_and_read(fd, 200, &nonzero);
    ck_assert_uint_gt(got, 0);
    ck_assert(!nonzero);
    ck_assert_uint_eq(got % 4, 0);
    /* Another thread holds the write side (the queue is empty: no frame
     * is owed, only ticks). */
    pthread_mutex_lock(&c->lock);
    ck_assert(!c->writing && c->head == NULL);
    c->writing = true;
    pthread_mutex_unlock(&c->lock);
    got = 0;
    for (int i = 0; i < 10; i++) /* 2 s: four of the writer's intervals, ten ticks to answer */
        got += tick_and_read(fd, 200, &nonzero);
    ck_assert_uint_eq(got, 0);
    em__oq_done(c);
    for (int i = 0; i < 10; i++)
        got += tick_and_read(fd, 200, &nonzero);
    ck_assert_uint_gt(got, 0);
    ck_assert(!nonzero);
    ck_assert_int_eq(c->state, EM__C_UP);
    em__dconn_put(c);
    close(fd);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    ck_assert_int_eq(log_lines("peer@localhost"), 0);
    node_end();
}
END_TEST

/* Sends one message to {x, peer@localhost}: its frame is queued, and the
 * flush as the process switches out finds the write side held. */
static void one_send_proc(void *arg)
{
    (void)arg;
    em_term to = em_tuple(2, A("x"), A("peer@localhost"));
    CHECK(em_send(to, A("hello")) == 0);
    em_drop(to);
}

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

/* While another thread holds the write side with a frame queued, the
 * writer waits for it (it used to spin, a scheduler's thread busy all the
 * while: about 500 ms of CPU here); when the holder lets go and pokes it,
 * as a sender's flush does, the writer writes the frame. */
START_TEST(the_writer_waits_while_another_holds_the_write_side)
{
    node_start(0);
    int fd;
    em__dconn *c = peer_up(&fd);
    pthread_mutex_lock(&c->lock);
    ck_assert(!c->writing);
    c->writing = true;
    pthread_mutex_unlock(&c->lock);
    double t0 = cpu_ms();
    ck_assert(em_spawn(one_send_proc, NULL) != EM_NONE);
    usleep(500000);
    double used = cpu_ms() - t0;
    pthread_mutex_lock(&c->lock);
    ck_assert_ptr_nonnull(c->head); /* the frame, still queued */
    pthread_mutex_unlock(&c->lock);
    ck_assert_msg(used < 150, "%.0f ms of CPU in 500 ms", used);
    em__oq_done(c); /* let go, as flush_one does */
    if (atomic_exchange(&c->writer_idle, 0))
        em__poke(c->evfd);
    em_term ctl, msg;
    ck_assert_int_eq(peer_recv(fd, &ctl, &msg), 0);
    ck_assert(msg == A("hello"));
    em_drop(ctl);
    em_drop(msg);
    ck_assert_int_eq(c->state, EM__C_UP);
    em__dconn_put(c);
    close(fd);
    ck_assert_em_ok(em_node_stop());
    ck_assert_int_eq(em_run(), 0);
    node_end();
}
END_TEST

static Suite *dist_conn_suite(void)
{
    Suite *s = suite_create("dist_conn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, accepted_up_then_down);
    tcase_add_test(tc, garbage_takes_it_down_logged_once);
    tcase_add_test(tc, dial_fails_backoff_one_log_line);
    tcase_add_test(tc, send_while_pending_does_not_block);
    tcase_add_test(tc, a_tick_is_never_written_while_another_writes);
    tcase_add_test(tc, the_writer_waits_while_another_holds_the_write_side);
    suite_add_tcase(s, tc);
    return s;
}

EM_TEST_MAIN(dist_conn_suite)
