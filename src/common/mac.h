/* SPDX-License-Identifier: MIT */
/*
 * Ethernet addresses as text, for the VMM (a NIC's --net mac=) and the
 * agent (net_config's mac): both take them from a less trusted side.
 */
#ifndef KILN_COMMON_MAC_H
#define KILN_COMMON_MAC_H

#include <stdint.h>

/*
 * "AA:BB:CC:DD:EE:FF" (hex, any case) to mac: 0, or -1 if malformed,
 * multicast or all zeros (neither can be a NIC's own address); mac is
 * untouched on failure.
 */
int mac_parse(const char *s, uint8_t mac[6]);

/* mac as "aa:bb:cc:dd:ee:ff" (18 bytes with the NUL). */
void mac_format(const uint8_t mac[6], char out[18]);

#endif
