/* SPDX-License-Identifier: MIT */
/*
 * NAT behaviour (RFC 4787 terms, as RFC 5780 discovers them): names for
 * logs and command lines, and the access server's decisions: would a
 * contact's NAT drop a newcomer's first packet (so punch first), and can
 * two endpoints end up with a direct path at all.  Pure functions, no
 * state, no logging.
 */
#ifndef PINHOLE_NAT_H
#define PINHOLE_NAT_H

#include <stdbool.h>
#include <stddef.h>

#include "access_proto.h"

/* Longest label nat_label() writes, NUL included ("unknown-unknown"). */
#define NAT_LABEL_MAX 16

/* "unknown", "none", "eim", "adm", "apdm"; "?" for a value outside the enum. */
const char *nat_mapping_name(enum ph_nat_mapping m);
/* "unknown", "none", "eif", "adf", "apdf"; "?" for a value outside the enum. */
const char *nat_filtering_name(enum ph_nat_filtering f);

/* Inverse of nat_mapping_name() (case-insensitive).  0 or -EINVAL. */
int nat_mapping_parse(const char *s, enum ph_nat_mapping *out);
/* Inverse of nat_filtering_name() (case-insensitive).  0 or -EINVAL. */
int nat_filtering_parse(const char *s, enum ph_nat_filtering *out);

/*
 * Short combined label: "none" for no NAT and no filtering, otherwise
 * "<mapping>-<filtering>" ("eim-eif", "eim-apdf", "apdm-apdf").  Writes
 * at most @len bytes; 0, or -ENOSPC when @len is too small (buf gets "").
 */
int nat_label(enum ph_nat_mapping m, enum ph_nat_filtering f, char *buf, size_t len);

/*
 * Parse a label: everything nat_label() writes, plus the NAT lab's
 * aliases "eim" (eim-eif) and "edm" (apdm-apdf).  0 or -EINVAL (outputs
 * untouched).
 */
int nat_label_parse(const char *s, enum ph_nat_mapping *m, enum ph_nat_filtering *f);

/*
 * Would a NAT with filtering @filtering_b drop an unsolicited packet from
 * a peer it has never sent to (so the server must have the peer punch
 * first)?  True for address-dependent and address-and-port-dependent
 * filtering, and for UNKNOWN (or out-of-range) values: assuming the worst
 * costs one punch, assuming the best costs the session.
 */
bool nat_would_drop(enum ph_nat_filtering filtering_b);

/*
 * Can A and B end up with a direct path?  A initiates (sends ONLINE to
 * B's server-observed address, and to any address it learnt from an
 * authenticated probe); when @punch is true B has first sent one probe,
 * from its session socket, to A's server-observed address.  Either side
 * answers an authenticated packet to the address it came from.  UNKNOWN
 * behaviours count as the most restrictive ones, so false means "not
 * expected to work", not "proven impossible".  The reasoning is in nat.c.
 */
bool nat_direct_possible(enum ph_nat_mapping a_map, enum ph_nat_filtering a_filt,
			 enum ph_nat_mapping b_map, enum ph_nat_filtering b_filt, bool punch);

#endif
