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

#include <ember/call.h>

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

EM_API em_term em_node_ping(em_term node, int64_t timeout_ms)
{
    em_term pang = A("pang"), pong = A("pong");
    if (em_typeof(node) != EM_TYPE_ATOM || !em__nd.up)
        return pang;
    if (node == em__nd.name)
        return pong;
    em_term dest = em_tuple(2, A("net_kernel"), node);
    if (dest == EM_NONE)
        return pang;
    /* An explicit connect, as net_adm:ping: dials even within the back-off
     * of a failed attempt (OTP bars only connects on demand). */
    em__dconn_unbar(node, false);
    /* net_adm:ping is gen:call({net_kernel, Node}, '$gen_call', {is_auth,
     * node()}): pong for the reply yes, pang for anything else. */
    em_term reply;
    int rc = em_call(dest, em_tuple(2, A("is_auth"), em__nd.name), timeout_ms, &reply);
    em_drop(dest);
    em_term res = rc == 0 && reply == A("yes") ? pong : pang;
    em_drop(reply);
    return res;
}
