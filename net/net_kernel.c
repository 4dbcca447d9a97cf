/* net_kernel.c: the registered process `net_kernel`, which answers what
 * Erlang's net_kernel answers to other nodes -- is_auth, so that
 * net_adm:ping from Erlang returns pong -- and em_node_ping, ember's
 * net_adm:ping.
 *
 * is_auth arrives as {'$gen_call', {Pid, Tag}, {is_auth, Node}}; the reply
 * {Tag, yes} goes straight to Pid, as OTP's net_kernel does (Tag may be an
 * improper list [alias|Ref]; it is echoed unchanged).  Other calls are
 * answered {Tag, error} so a caller never hangs; anything else is
 * dropped. */
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

#define A(s) em_atom(s)

void em__net_kernel_main(void *arg)
{
    (void)arg;
    for (;;) {
        em_term msg;
        if (em_receive_any(EM_INFINITY, &msg) < 0)
            continue;
        em_term from, req;
        if (em_tuple_size(msg) == 3 && em_tuple_get(msg, 0) == A("$gen_call") &&
            em_tuple_size(from = em_tuple_get(msg, 1)) == 2 &&
            em_typeof(em_tuple_get(from, 0)) == EM_TYPE_PID) {
            req = em_tuple_get(msg, 2);
            bool auth = em_tuple_size(req) == 2 && em_tuple_get(req, 0) == A("is_auth");
            em_send(em_tuple_get(from, 0), em_tuple(2, em_dup(em_tuple_get(from, 1)), A(auth ? "yes" : "error")));
        }
    }
}

typedef struct ping_ctx {
    em_term ref, mref;
} ping_ctx;

static bool ping_reply(em_term m, void *arg)
{
    ping_ctx *p = arg;
    if (em_tuple_size(m) == 2 && em_equal(em_tuple_get(m, 0), p->ref))
        return true;
    return em_tuple_size(m) == 5 && em_tuple_get(m, 0) == A("DOWN") && em_equal(em_tuple_get(m, 1), p->mref);
}

EM_API em_term em_node_ping(em_term node, int64_t timeout_ms)
{
    em_term pang = A("pang"), pong = A("pong");
    em_term self = em_self();
    if (self == EM_NONE || em_typeof(node) != EM_TYPE_ATOM || !em__nd.up)
        return pang;
    if (node == em__nd.name)
        return pong;
    em_term dest = em_tuple(2, A("net_kernel"), node);
    if (dest == EM_NONE)
        return pang;
    /* An explicit connect, as net_adm:ping: dials even within the back-off
     * of a failed attempt (OTP bars only connects on demand). */
    em__dconn_unbar(node, false);
    ping_ctx p;
    p.mref = em_monitor(dest);
    if (p.mref == EM_NONE) {
        em_drop(dest);
        return pang;
    }
    p.ref = em_make_ref();
    em_send(dest, em_tuple(3, A("$gen_call"), em_tuple(2, self, em_dup(p.ref)),
                           em_tuple(2, A("is_auth"), em__nd.name)));
    em_drop(dest);
    em_term m;
    em_term res = pang;
    if (em_receive_match(timeout_ms, ping_reply, &p, &m) == 0 && em_tuple_size(m) == 2 &&
        em_tuple_get(m, 1) == A("yes"))
        res = pong;
    em_demonitor(p.mref, EM_DEMONITOR_FLUSH);
    em_drop(p.mref);
    em_drop(p.ref);
    return res;
}
