// SPDX-License-Identifier: MIT
/*
 * NAT behaviour names and the server's direct-path decisions: see nat.h.
 *
 * The model (RFC 4787 §4.1 mapping, §5 filtering; RFC 5128 §3.3 UDP hole
 * punching), with R_X the address the server observes for endpoint X (the
 * mapping of X's session socket toward the server, kept alive):
 *
 *   Mapping.  With no NAT or endpoint-independent mapping (EIM) X's socket
 *   appears as R_X toward every destination: we call that "stable".  With
 *   address-dependent (ADM) or address-and-port-dependent (APDM) mapping a
 *   packet toward the peer (a different IP from the server's) gets a fresh
 *   external port that nobody can predict.  For the decision ADM and APDM
 *   behave alike: the peer always has a different IP than the server.
 *
 *   Filtering is applied per external port, against what was sent from
 *   that port: no filtering and endpoint-independent filtering (EIF) accept
 *   anything that reaches a live mapping; address-dependent (ADF) needs an
 *   earlier packet to the sender's IP, address-and-port-dependent (APDF)
 *   to the sender's exact IP:port.
 *
 *   The exchange (DESIGN steps 5 and 7):
 *   1. punch: B sends a probe from its session socket to R_A.  It leaves B
 *      from R_B if B's mapping is stable, else from a fresh port Q_B; in
 *      both cases that port now "has sent to R_A".  At A's NAT the probe
 *      hits R_A, which has only ever sent to the server: only open (none /
 *      EIF) filtering lets it in.  When it does, A learns Q_B as a
 *      peer-reflexive address (the probe is authenticated, as in ICE).
 *   2. A sends ONLINE to R_B (path 1) and, if it learnt Q_B, to Q_B
 *      (path 2).  It leaves A from R_A if A's mapping is stable, else from
 *      a fresh port.
 *   3. B answers from its session socket to wherever the ONLINE came from;
 *      A's NAT must let that answer in on the port A sent from.
 *
 *   Path 1: R_B accepts A's packet if B's filtering is open, or if B
 *   punched from R_B (stable mapping) and the filter is satisfied by the
 *   probe: ADF by A's IP alone, APDF only if A's packet comes from R_A
 *   itself (A's mapping stable).  B's answer then leaves from R_B if B is
 *   stable, else from a port A never sent to: A's filtering must be open
 *   or ADF (same IP), or APDF with B stable.
 *   Path 2 (punch, A's filtering open, B not stable): Q_B has sent to R_A,
 *   so it accepts A's packet under open filtering or ADF, and under APDF
 *   only when A's packet comes from R_A (A stable).  The answer reaches A
 *   because A's filtering is open.
 *
 * Direct works when either path completes.  Punching never hurts: with
 * open filtering at B path 1 already works without it, so the server may
 * punch only when nat_would_drop() says so.  The lab's four NATs
 * (none, EIM/EIF, EIM/APDF, APDM/APDF) come out as RFC 5128 §3.3 and §3.5
 * describe: with punching, only APDF against APDM/APDF (either order) and
 * APDM/APDF against itself fail; without punching every B with APDF fails.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "nat.h"

static const char *const map_names[] = {
    [PH_MAP_UNKNOWN] = "unknown",
    [PH_MAP_NONE] = "none",
    [PH_MAP_ENDPOINT_INDEPENDENT] = "eim",
    [PH_MAP_ADDRESS_DEPENDENT] = "adm",
    [PH_MAP_ADDRESS_PORT_DEPENDENT] = "apdm",
};

static const char *const filt_names[] = {
    [PH_FILTER_UNKNOWN] = "unknown",
    [PH_FILTER_NONE] = "none",
    [PH_FILTER_ENDPOINT_INDEPENDENT] = "eif",
    [PH_FILTER_ADDRESS_DEPENDENT] = "adf",
    [PH_FILTER_ADDRESS_PORT_DEPENDENT] = "apdf",
};

#define N_MAP (sizeof(map_names) / sizeof(map_names[0]))
#define N_FILT (sizeof(filt_names) / sizeof(filt_names[0]))

const char *nat_mapping_name(enum ph_nat_mapping m)
{
	return (unsigned int)m < N_MAP ? map_names[m] : "?";
}

const char *nat_filtering_name(enum ph_nat_filtering f)
{
	return (unsigned int)f < N_FILT ? filt_names[f] : "?";
}

static int find_name(const char *const *names, size_t n, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && !strncasecmp(names[i], s, len))
			return (int)i;
	return -EINVAL;
}

int nat_mapping_parse(const char *s, enum ph_nat_mapping *out)
{
	int i;

	if (!s)
		return -EINVAL;
	i = find_name(map_names, N_MAP, s, strlen(s));
	if (i < 0)
		return i;
	*out = (enum ph_nat_mapping)i;
	return 0;
}

int nat_filtering_parse(const char *s, enum ph_nat_filtering *out)
{
	int i;

	if (!s)
		return -EINVAL;
	i = find_name(filt_names, N_FILT, s, strlen(s));
	if (i < 0)
		return i;
	*out = (enum ph_nat_filtering)i;
	return 0;
}

int nat_label(enum ph_nat_mapping m, enum ph_nat_filtering f, char *buf, size_t len)
{
	int n;

	if (!buf || !len)
		return -ENOSPC;
	if (m == PH_MAP_NONE && f == PH_FILTER_NONE)
		n = snprintf(buf, len, "none");
	else
		n = snprintf(buf, len, "%s-%s", nat_mapping_name(m), nat_filtering_name(f));
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

int nat_label_parse(const char *s, enum ph_nat_mapping *m, enum ph_nat_filtering *f)
{
	const char *dash;
	int mi, fi;

	if (!s)
		return -EINVAL;
	/* The lab's names for its NATs, so scripts and the CLI can say the same thing. */
	if (!strcasecmp(s, "none")) {
		*m = PH_MAP_NONE;
		*f = PH_FILTER_NONE;
		return 0;
	}
	if (!strcasecmp(s, "eim")) {
		*m = PH_MAP_ENDPOINT_INDEPENDENT;
		*f = PH_FILTER_ENDPOINT_INDEPENDENT;
		return 0;
	}
	if (!strcasecmp(s, "edm")) {
		*m = PH_MAP_ADDRESS_PORT_DEPENDENT;
		*f = PH_FILTER_ADDRESS_PORT_DEPENDENT;
		return 0;
	}
	dash = strchr(s, '-');
	if (!dash)
		return -EINVAL;
	mi = find_name(map_names, N_MAP, s, (size_t)(dash - s));
	fi = find_name(filt_names, N_FILT, dash + 1, strlen(dash + 1));
	if (mi < 0 || fi < 0)
		return -EINVAL;
	*m = (enum ph_nat_mapping)mi;
	*f = (enum ph_nat_filtering)fi;
	return 0;
}

/* Same external address toward every destination (see the model above). */
static bool stable(enum ph_nat_mapping m)
{
	return m == PH_MAP_NONE || m == PH_MAP_ENDPOINT_INDEPENDENT;
}

/* Anything reaching a live mapping gets in. */
static bool open_filter(enum ph_nat_filtering f)
{
	return f == PH_FILTER_NONE || f == PH_FILTER_ENDPOINT_INDEPENDENT;
}

static enum ph_nat_filtering worst_filter(enum ph_nat_filtering f)
{
	switch (f) {
	case PH_FILTER_NONE:
	case PH_FILTER_ENDPOINT_INDEPENDENT:
	case PH_FILTER_ADDRESS_DEPENDENT:
	case PH_FILTER_ADDRESS_PORT_DEPENDENT:
		return f;
	default:
		return PH_FILTER_ADDRESS_PORT_DEPENDENT;
	}
}

bool nat_would_drop(enum ph_nat_filtering filtering_b)
{
	return !open_filter(filtering_b);
}

bool nat_direct_possible(enum ph_nat_mapping a_map, enum ph_nat_filtering a_filt,
			 enum ph_nat_mapping b_map, enum ph_nat_filtering b_filt, bool punch)
{
	bool b_punched_from_rb, path1_in, path1_back, path2;

	/* UNKNOWN (and out-of-range) values are read as the most restrictive
	 * behaviour a NAT has: APDM mapping, APDF filtering. */
	a_filt = worst_filter(a_filt);
	b_filt = worst_filter(b_filt);
	b_punched_from_rb = punch && stable(b_map);

	/* Step 2, path 1: A's packet to R_B gets through B's NAT. */
	path1_in =
	    open_filter(b_filt) ||
	    (b_punched_from_rb && (b_filt == PH_FILTER_ADDRESS_DEPENDENT ||
				   (b_filt == PH_FILTER_ADDRESS_PORT_DEPENDENT && stable(a_map))));
	/* Step 3, path 1: B's answer (from R_B only if B is stable) gets back into A. */
	path1_back = open_filter(a_filt) || a_filt == PH_FILTER_ADDRESS_DEPENDENT ||
		     (a_filt == PH_FILTER_ADDRESS_PORT_DEPENDENT && stable(b_map));
	if (path1_in && path1_back)
		return true;

	/*
	 * Path 2 exists only if A heard B's probe (open filtering at A) and the
	 * probe came from a port other than R_B.  Q_B has sent to R_A exactly.
	 */
	path2 = punch && open_filter(a_filt) && !stable(b_map);
	return path2 && (open_filter(b_filt) || b_filt == PH_FILTER_ADDRESS_DEPENDENT ||
			 (b_filt == PH_FILTER_ADDRESS_PORT_DEPENDENT && stable(a_map)));
}
