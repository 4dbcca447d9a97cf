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
#include "../runtime/remote.h"

#define A(s) em_atom(s)

void em__net_kernel_main(void *arg)
{
    (void)arg;
    /* em_node_start registers it; but the net_kernel of an earlier node
     * start may still have held the name (em_node_stop does not wait for
     * it): then wait for it, as rex does. */
    if (!em__register_self(A("net_kernel")))
        return;
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
            /* noconnect, as OTP's net_kernel replies: a From on a node not
             * connected (anyone can name one) is not dialled */
            em__dist_ops_send_noconnect(em_tuple_get(from, 0),
                                        em_tuple(2, em_dup(em_tuple_get(from, 1)), A(auth ? "yes" : "error")));
        }
    }
}

EM_API em_term em_node_ping(em_term node, int64_t timeout_ms)
{
    return em_node_connect(node, timeout_ms, NULL, 0) == 0 ? A("pong") : A("pang");
}

/* Why the connection to node failed, as the connector recorded it (a DOWN
 * noconnection came): its code, and its reason copied to why. */
static int failure(em_term node, char *why, size_t whylen)
{
    char text[160];
    int err = em__dconn_last_fail(node, text, sizeof text);
    if (err == 0) {
        err = EM_ECLOSED;
        snprintf(text, sizeof text, "the connection closed before the answer");
    }
    if (why && whylen)
        snprintf(why, whylen, "%s", text);
    return err;
}

EM_API int em_node_connect(em_term node, int64_t timeout_ms, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (em_typeof(node) != EM_TYPE_ATOM)
        return EM_EBADARG;
    if (!em__nd.up)
        return EM_ESTATE;
    if (node == em__nd.name)
        return 0;
    if (timeout_ms < 0 && timeout_ms != EM_INFINITY)
        return EM_EINVAL; /* before the back-off is lifted below */
    em_term dest = em_tuple(2, A("net_kernel"), node);
    if (dest == EM_NONE)
        return EM_ENOMEM;
    /* An explicit connect, as net_adm:ping: dials even within the back-off
     * of a failed attempt (OTP bars only connects on demand). */
    em__dconn_unbar(node, false);
    /* net_adm:ping is gen:call({net_kernel, Node}, '$gen_call', {is_auth,
     * node()}): connected when the answer is yes. */
    em_term reply;
    int rc = em__call_taking(dest, em_tuple(2, A("is_auth"), em__nd.name), timeout_ms, &reply);
    if (rc == 0 && reply != A("yes")) {
        rc = EM_EAUTH;
        if (why && whylen)
            snprintf(why, whylen, "the node's net_kernel answered no to is_auth");
    } else if (rc == EM_ENOPROC) {
        rc = 0; /* up, with no net_kernel there (a bare C node) */
    } else if (rc == EM_ENOCONN || rc == EM_EEXIT) {
        rc = failure(node, why, whylen);
    } else if (rc == EM_ETIMEDOUT && why && whylen) {
        snprintf(why, whylen, "no answer within %lld ms", (long long)timeout_ms);
    }
    em_drop(reply);
    return rc;
}
