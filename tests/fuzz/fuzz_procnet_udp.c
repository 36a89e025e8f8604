/*
 * fuzz_procnet_udp.c - the /proc/net/udp and /proc/net/udp6 text, through the parser of
 * /proc/net/tcp* (tcptable_procnet.c) and fuzz_procnet.c's harness and input format, with
 * the poller fetching UDP only: the first text is /proc/net/udp, the second udp6.
 */
#include "tcptable_protocols.h"

#define FUZZ_PROTOCOLS TCPTABLE_PROTOCOLS_UDP
#include "fuzz_procnet.c"
