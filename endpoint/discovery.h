/* SPDX-License-Identifier: MIT */
/*
 * RFC 5780 NAT behaviour discovery, client side, over the endpoint's one
 * UDP socket.  Two halves:
 *
 *  - disc_classify(): a pure function from what the tests observed to the
 *    RFC 4787 mapping and filtering behaviour (table-tested);
 *  - struct disc: a non-blocking state machine that runs the tests.  It
 *    never reads the socket itself: the owner feeds it parsed Binding
 *    responses (disc_input) and timer ticks (disc_timer) from its own
 *    event loop, so the binding discovery creates is the one the endpoint
 *    keeps using afterwards.
 *
 * Test order: I (Binding to the primary address P), then the filtering
 * tests (CHANGE-REQUEST ip+port, then port), then the mapping tests
 * (Binding to O.ip:P.port, then to O).  Filtering goes first on purpose:
 * once the socket has sent to the alternate address O, a port- or
 * address-dependent filter would let O's answers in and every NAT would
 * look endpoint-independent.
 */
#ifndef PINHOLE_ENDPOINT_DISCOVERY_H
#define PINHOLE_ENDPOINT_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_proto.h"
#include "stun.h"

/* What the tests saw; the input of disc_classify(). */
struct disc_obs {
	bool test1_ok;			/* test I answered */
	bool has_other;			/* ...with OTHER-ADDRESS */
	struct sockaddr_storage local;	/* the socket's own address */
	struct sockaddr_storage xma1;	/* test I */
	bool map2_ok;			/* Binding to O.ip:P.port answered */
	struct sockaddr_storage xma2;
	bool map3_ok;			/* Binding to O.ip:O.port answered */
	struct sockaddr_storage xma3;
	bool filt2_ok;			/* CHANGE-REQUEST(ip+port) answered from O */
	bool filt3_ok;			/* CHANGE-REQUEST(port) answered from P.ip:O.port */
};

/*
 * Classify @o (RFC 5780 §4.3, §4.4).  No answer to test I or no
 * OTHER-ADDRESS: both UNKNOWN.  Mapping: xma1 == local -> NONE; xma2 ==
 * xma1 -> EIM; xma3 == xma2 -> ADM; else APDM; an unanswered mapping test
 * -> UNKNOWN.  Filtering: filt2 -> EIF (NONE when mapping is NONE); else
 * filt3 -> ADF; else APDF.  Pure; never fails.
 */
void disc_classify(const struct disc_obs *o, enum ph_nat_mapping *map,
		   enum ph_nat_filtering *filt);

struct disc_config {
	unsigned int rto_ms;	       /* first retransmission timeout of test I */
	unsigned int max_tries;	       /* sends of test I before "unreachable" */
	unsigned int probe_timeout_ms; /* wait for each later test's answer */
};

enum disc_step {
	DISC_IDLE = 0,
	DISC_TEST1,
	DISC_FILT2,
	DISC_FILT3,
	DISC_MAP2,
	DISC_MAP3,
	DISC_DONE,
	DISC_FAILED, /* test I never answered: the server is unreachable */
};

struct disc {
	int fd;
	struct disc_config cfg;
	struct sockaddr_storage server; /* P */
	struct sockaddr_storage other;	/* O, from test I's OTHER-ADDRESS */
	enum disc_step step;
	uint8_t tid[STUN_TID_LEN];
	struct sockaddr_storage dst;	/* where the current test went */
	struct sockaddr_storage expect; /* where its answer must come from */
	uint32_t change;		/* CHANGE-REQUEST flags of the current test */
	uint64_t next_ms;		/* next retransmission */
	uint64_t deadline_ms;		/* give up on the current test */
	unsigned int rto_ms, tries;
	struct disc_obs obs;
	enum ph_nat_mapping mapping;
	enum ph_nat_filtering filtering;
};

/*
 * Prepare @d to run over socket @fd against server @server, the socket's
 * own address being @local (a concrete address, not a wildcard: test I
 * compares it with the reflexive one).  @cfg NULL takes the defaults
 * (100 ms, 6 tries, 500 ms).  Sends nothing.
 */
void disc_init(struct disc *d, int fd, const struct sockaddr *server,
	       const struct sockaddr *local, const struct disc_config *cfg);

/* Send test I.  0 or a negative errno from sendto()/randomness. */
int disc_start(struct disc *d, uint64_t now_ms);

/*
 * Offer a parsed datagram from @from.  Returns 1 when it was the answer
 * to the current test (and the machine moved on, maybe sending the next
 * test), 0 when it is not ours (wrong type, transaction id or source).
 */
int disc_input(struct disc *d, const struct stun_msg *m, const struct sockaddr *from,
	       uint64_t now_ms);

/* Retransmit or give up on the current test as time says.  0 or -errno (send). */
int disc_timer(struct disc *d, uint64_t now_ms);

/* Milliseconds until disc_timer() has work, -1 when finished or idle. */
int64_t disc_next_timeout_ms(const struct disc *d, uint64_t now_ms);

/* True once the machine has finished (DONE or FAILED). */
static inline bool disc_finished(const struct disc *d)
{
	return d->step == DISC_DONE || d->step == DISC_FAILED;
}

#endif
