/*
 * fuzz_netlink_udp.c - sock_diag replies to a poller fetching TCP and UDP (the UDP dumps run
 * after the TCP ones, one per family), through fuzz_netlink.c's harness and input format: the
 * datagrams left after the TCP dumps answer the UDP requests.
 */
#include "tcptable_protocols.h"

#define FUZZ_PROTOCOLS (TCPTABLE_PROTOCOLS_TCP | TCPTABLE_PROTOCOLS_UDP)
#include "fuzz_netlink.c"
