/*
 * tcptable_protocols.c - a poller's protocols (TCP, UDP or both).  The Windows UDP seam
 * (tcptable_poller_set_iphlpapi_udp) lives with its backend, in tcptable_windows.c.
 */
#include "tcptable_internal.h"
#include "tcptable_protocols.h"
#include "tcptable_filter.h"

int tcptable_poller_set_protocols(tcptable_poller *poller, int protocols)
{
    if (protocols <= 0 || (protocols & ~(TCPTABLE_PROTOCOLS_TCP | TCPTABLE_PROTOCOLS_UDP)) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid protocols mask %d",
                             protocols);
    poller->protocols = protocols;
    return TCPTABLE_OK;
}

int tcptable_protocol_wanted(const tcptable_poller *poller, int protocol)
{
    /* A poller made before protocols existed (0) fetches TCP, as it always did. */
    int protocols = poller->protocols != 0 ? poller->protocols : TCPTABLE_PROTOCOLS_TCP;
    uint32_t states = poller->filter != NULL ? poller->filter->states : 0;
    if (protocol == TCPTABLE_PROTOCOL_UDP)
        return (protocols & TCPTABLE_PROTOCOLS_UDP) &&
               (states == 0 || (states & (1u << TCPTABLE_STATE_NONE)));
    return (protocols & TCPTABLE_PROTOCOLS_TCP) &&
           (states == 0 || (states & ~(1u << TCPTABLE_STATE_NONE)));
}

int tcptable_raw_protocol(const tcptable_poller *poller, const void *raw)
{
    return (raw == &poller->raw[TCPTABLE_RAW_UDP4] || raw == &poller->raw[TCPTABLE_RAW_UDP6])
               ? TCPTABLE_PROTOCOL_UDP
               : TCPTABLE_PROTOCOL_TCP;
}
