// SPDX-License-Identifier: MIT
/*
 * The access protocol codec: see access.h.  Our attributes are unknown to
 * the STUN parser (it records offsets only for STUN's own), so they are
 * found by walking the message with stun_msg_next_attr(), whose lengths
 * stun_msg_parse() has already bounded.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access.h"
#include "wire.h"

/* --- methods ----------------------------------------------------------- */

bool access_method_known(uint16_t method)
{
	switch (method) {
	case PH_METHOD_LOGIN:
	case PH_METHOD_FETCH:
	case PH_METHOD_PUNCH:
	case PH_METHOD_PRESENCE:
	case PH_METHOD_LOGOUT:
	case PH_METHOD_ONLINE:
	case PH_METHOD_MESSAGE:
	case PH_METHOD_PROBE:
		return true;
	}
	return false;
}

const char *access_method_name(uint16_t method)
{
	switch (method) {
	case STUN_METHOD_BINDING:
		return "BINDING";
	case PH_METHOD_LOGIN:
		return "LOGIN";
	case PH_METHOD_FETCH:
		return "FETCH";
	case PH_METHOD_PUNCH:
		return "PUNCH";
	case PH_METHOD_PRESENCE:
		return "PRESENCE";
	case PH_METHOD_LOGOUT:
		return "LOGOUT";
	case PH_METHOD_ONLINE:
		return "ONLINE";
	case PH_METHOD_MESSAGE:
		return "MESSAGE";
	case PH_METHOD_PROBE:
		return "PROBE";
	}
	return "UNKNOWN";
}

const char *access_class_name(uint16_t cls)
{
	switch (cls & STUN_CLASS_MASK) {
	case STUN_CLASS_REQUEST:
		return "request";
	case STUN_CLASS_INDICATION:
		return "indication";
	case STUN_CLASS_SUCCESS:
		return "success";
	default:
		return "error";
	}
}

/* --- validation -------------------------------------------------------- */

bool access_attr_known(uint16_t type)
{
	return type >= PH_ATTR_SESSION && type <= PH_ATTR_PUNCH_FLAGS;
}

bool access_attr_repeatable(uint16_t type)
{
	return type == PH_ATTR_LOCAL_ADDRESS || type == PH_ATTR_CONTACT;
}

/* MAPPED-ADDRESS / XOR-MAPPED-ADDRESS value: length must match the family. */
static bool addr_value_ok(const uint8_t *val, size_t len)
{
	return (len == sizeof(struct stun_addr4) && val[1] == STUN_FAMILY_IPV4) ||
	       (len == sizeof(struct stun_addr6) && val[1] == STUN_FAMILY_IPV6);
}

/*
 * The store's naming rule: printable ASCII, no space, no ':'.  A name is
 * printed in logs and on the endpoint's terminal and parsed back from
 * "@name text" lines: an escape sequence could rewrite the user's screen,
 * a space or newline could forge log lines or commands.
 */
static bool name_ok(const uint8_t *s, size_t len)
{
	size_t i;

	if (len < 1 || len > PH_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ':')
			return false;
	return true;
}

/*
 * Well-formed UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF) without C0/C1 controls or DEL, tab excepted.  The text is
 * shown on a terminal: a control character (ESC, or C1 CSI 0x9B) would
 * let a peer drive it; malformed UTF-8 would let it hide characters.
 */
static bool text_ok(const uint8_t *s, size_t len)
{
	size_t i = 0;

	if (len < 1 || len > PH_TEXT_MAX)
		return false;
	while (i < len) {
		uint32_t cp;
		size_t n, k;

		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if (s[i] >= 0xC2 && s[i] <= 0xDF) {
			cp = s[i] & 0x1F;
			n = 2;
		} else if (s[i] >= 0xE0 && s[i] <= 0xEF) {
			cp = s[i] & 0x0F;
			n = 3;
		} else if (s[i] >= 0xF0 && s[i] <= 0xF4) {
			cp = s[i] & 0x07;
			n = 4;
		} else {
			return false;
		}
		if (n > len - i)
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		if ((cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F))
			return false;
		i += n;
	}
	return true;
}

static bool wire_addr_ok(const struct ph_wire_addr *a)
{
	return a->family == 0 || a->family == STUN_FAMILY_IPV4 || a->family == STUN_FAMILY_IPV6;
}

static bool contact_value_ok(const uint8_t *val, size_t len)
{
	struct ph_contact_attr fixed;

	if (len < sizeof(fixed))
		return false;
	memcpy(&fixed, val, sizeof(fixed));
	return len == sizeof(fixed) + fixed.name_len && fixed.state <= PH_CONTACT_REMOVED &&
	       !(fixed.flags & ~(PH_CONTACT_DIRECT_OK | PH_CONTACT_PUNCHED)) &&
	       fixed.mapping <= PH_MAP_ADDRESS_PORT_DEPENDENT &&
	       fixed.filtering <= PH_FILTER_ADDRESS_PORT_DEPENDENT &&
	       wire_addr_ok(&fixed.reflexive) && wire_addr_ok(&fixed.local) &&
	       name_ok(val + sizeof(fixed), fixed.name_len);
}

/*
 * The one gate for our attributes: nothing reads a field before this says
 * the value has the shape its type promises.  Without it a lying peer
 * could make us read past a short value (a name_len larger than what
 * follows), store an out-of-range enum that indexes a table, make an
 * endpoint keep-alive in a tight loop, or print control characters.
 */
int access_attr_check_value(uint16_t type, const uint8_t *val, size_t len)
{
	bool ok;

	switch (type) {
	case PH_ATTR_SESSION:
		ok = len == sizeof(struct ph_session_attr);
		break;
	case PH_ATTR_KEEPALIVE: {
		uint32_t iv, jit, to;

		ok = len == sizeof(struct ph_keepalive_attr);
		if (!ok)
			break;
		iv = wire_rd32(val);
		jit = wire_rd32(val + 4);
		to = wire_rd32(val + 8);
		ok = iv >= ACCESS_KEEPALIVE_MIN_MS && iv <= ACCESS_KEEPALIVE_MAX_MS && jit < iv &&
		     to >= iv;
		break;
	}
	case PH_ATTR_LOCAL_ADDRESS:
	case PH_ATTR_CLAIMED_ADDRESS:
	case PH_ATTR_PEER_ADDRESS:
		ok = addr_value_ok(val, len);
		break;
	case PH_ATTR_NAT:
		ok = len == sizeof(struct ph_nat_attr) && val[0] <= PH_MAP_ADDRESS_PORT_DEPENDENT &&
		     val[1] <= PH_FILTER_ADDRESS_PORT_DEPENDENT;
		break;
	case PH_ATTR_PAGE:
		ok = len == sizeof(struct ph_page_attr) &&
		     (wire_rd16(val + 2) == 0 || wire_rd16(val) < wire_rd16(val + 2));
		break;
	case PH_ATTR_CONTACT:
	case PH_ATTR_PRESENCE:
		ok = contact_value_ok(val, len);
		break;
	case PH_ATTR_PEER_NAME:
		ok = name_ok(val, len);
		break;
	case PH_ATTR_TEXT:
		ok = text_ok(val, len);
		break;
	case PH_ATTR_PUNCH_FLAGS:
		ok = len == 4 && !(wire_rd32(val) & ~(uint32_t)PH_PUNCH_SEND);
		break;
	default:
		return -EINVAL;
	}
	return ok ? 0 : -STUN_E_BAD_VALUE;
}

int access_msg_check_attrs(const struct stun_msg *m, uint16_t *bad)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len;
	uint32_t seen = 0;
	unsigned int i;
	int err;

	err = stun_msg_check_attrs(m, bad);
	if (err == -STUN_E_UNKNOWN_REQUIRED) {
		/*
		 * The STUN layer lists our types as unknown.  If the list was
		 * truncated it holds 32 distinct types, at most 12 of them ours,
		 * so a foreign one is still found here.
		 */
		err = 0;
		for (i = 0; i < m->n_unknown; i++) {
			if (!access_attr_known(m->unknown[i])) {
				if (bad)
					*bad = m->unknown[i];
				return -STUN_E_UNKNOWN_REQUIRED;
			}
		}
	}
	if (err)
		return err;

	/* Duplicates before values: which copy a getter reads would otherwise matter. */
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		uint32_t bit;

		if (!access_attr_known(type) || access_attr_repeatable(type))
			continue;
		bit = 1u << (type - PH_ATTR_SESSION);
		if (seen & bit) {
			if (bad)
				*bad = type;
			return -STUN_E_DUPLICATE;
		}
		seen |= bit;
	}
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		if (!access_attr_known(type))
			continue;
		err = access_attr_check_value(type, val, len);
		if (err) {
			if (bad)
				*bad = type;
			return err;
		}
	}
	return 0;
}

/* First @type attribute, checked. */
static int get_checked(const struct stun_msg *m, uint16_t type, const uint8_t **val, uint16_t *len)
{
	struct stun_attr_iter it;
	uint16_t t;

	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &t, val, len))
		if (t == type)
			return access_attr_check_value(type, *val, *len);
	return -ENOENT;
}

/* --- addresses --------------------------------------------------------- */

/* A checked (XOR-)MAPPED-ADDRESS value into @ss; @mask is cookie || tid, or NULL. */
static void decode_addr(const uint8_t *val, const uint8_t *mask, struct sockaddr_storage *ss)
{
	uint16_t port = wire_rd16(val + 2);
	int i;

	memset(ss, 0, sizeof(*ss));
	if (mask)
		port ^= wire_rd16(mask);
	if (val[1] == STUN_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		uint8_t *a = (uint8_t *)&sin->sin_addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		for (i = 0; i < 4; i++)
			a[i] = val[4 + i] ^ (mask ? mask[i] : 0);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		for (i = 0; i < 16; i++)
			sin6->sin6_addr.s6_addr[i] = val[4 + i] ^ (mask ? mask[i] : 0);
	}
}

static int get_addr(const struct stun_msg *m, uint16_t type, bool xored,
		    struct sockaddr_storage *ss)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, type, &val, &len);

	if (err)
		return err;
	/* The mask is the cookie then the transaction id, as for XOR-MAPPED-ADDRESS. */
	decode_addr(val, xored ? m->buf + 4 : NULL, ss);
	return 0;
}

static int add_plain_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	if (b->err)
		return b->err;
	if (sa && sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		b->err = -EINVAL;
		return b->err;
	}
	/* The STUN builder writes any non-XOR type in MAPPED-ADDRESS form. */
	return stun_build_add_addr(b, type, sa);
}

int access_add_local_address(struct stun_builder *b, const struct sockaddr *sa)
{
	return add_plain_addr(b, PH_ATTR_LOCAL_ADDRESS, sa);
}

int access_add_claimed_address(struct stun_builder *b, const struct sockaddr *sa)
{
	return add_plain_addr(b, PH_ATTR_CLAIMED_ADDRESS, sa);
}

int access_get_claimed_address(const struct stun_msg *m, struct sockaddr_storage *ss)
{
	return get_addr(m, PH_ATTR_CLAIMED_ADDRESS, false, ss);
}

int access_get_local_addresses(const struct stun_msg *m, struct sockaddr_storage *out, size_t max,
			       size_t *n)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len;
	size_t count = 0;

	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		if (type != PH_ATTR_LOCAL_ADDRESS)
			continue;
		if (access_attr_check_value(type, val, len))
			return -STUN_E_BAD_VALUE;
		if (out && count < max)
			decode_addr(val, NULL, &out[count]);
		count++;
	}
	if (n)
		*n = count;
	return 0;
}

int access_add_peer_address(struct stun_builder *b, const struct sockaddr *sa)
{
	uint8_t v[sizeof(struct stun_addr6)];
	const uint8_t *mask;
	size_t len;
	int i;

	if (b->err)
		return b->err;
	if (!sa)
		goto inval;
	/* stun_build_init() put the cookie and tid in place: they are the mask. */
	mask = b->buf + 4;
	v[0] = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		const uint8_t *a = (const uint8_t *)&sin->sin_addr;

		v[1] = STUN_FAMILY_IPV4;
		wire_wr16(v + 2, ntohs(sin->sin_port) ^ wire_rd16(mask));
		for (i = 0; i < 4; i++)
			v[4 + i] = a[i] ^ mask[i];
		len = sizeof(struct stun_addr4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		v[1] = STUN_FAMILY_IPV6;
		wire_wr16(v + 2, ntohs(sin6->sin6_port) ^ wire_rd16(mask));
		for (i = 0; i < 16; i++)
			v[4 + i] = sin6->sin6_addr.s6_addr[i] ^ mask[i];
		len = sizeof(struct stun_addr6);
	} else {
		goto inval;
	}
	return stun_build_add(b, PH_ATTR_PEER_ADDRESS, v, len);
inval:
	b->err = -EINVAL;
	return b->err;
}

int access_get_peer_address(const struct stun_msg *m, struct sockaddr_storage *ss)
{
	return get_addr(m, PH_ATTR_PEER_ADDRESS, true, ss);
}

/* --- fixed attributes -------------------------------------------------- */

/* Append @type after checking it against the getter's rule, so we never send what we refuse. */
static int add_checked(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	if (b->err)
		return b->err;
	if (!val || access_attr_check_value(type, val, len)) {
		b->err = -EINVAL;
		return b->err;
	}
	return stun_build_add(b, type, val, len);
}

int access_add_session(struct stun_builder *b, uint32_t id, const uint8_t token[PH_TOKEN_LEN])
{
	uint8_t v[sizeof(struct ph_session_attr)];

	if (!token)
		return add_checked(b, PH_ATTR_SESSION, NULL, 0);
	wire_wr32(v, id);
	memcpy(v + 4, token, PH_TOKEN_LEN);
	return add_checked(b, PH_ATTR_SESSION, v, sizeof(v));
}

int access_get_session(const struct stun_msg *m, uint32_t *id, uint8_t token[PH_TOKEN_LEN])
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_SESSION, &val, &len);

	if (err)
		return err;
	*id = wire_rd32(val);
	memcpy(token, val + 4, PH_TOKEN_LEN);
	return 0;
}

int access_add_keepalive(struct stun_builder *b, const struct access_keepalive *k)
{
	uint8_t v[sizeof(struct ph_keepalive_attr)];

	if (!k)
		return add_checked(b, PH_ATTR_KEEPALIVE, NULL, 0);
	wire_wr32(v, k->interval_ms);
	wire_wr32(v + 4, k->jitter_ms);
	wire_wr32(v + 8, k->timeout_ms);
	return add_checked(b, PH_ATTR_KEEPALIVE, v, sizeof(v));
}

int access_get_keepalive(const struct stun_msg *m, struct access_keepalive *k)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_KEEPALIVE, &val, &len);

	if (err)
		return err;
	k->interval_ms = wire_rd32(val);
	k->jitter_ms = wire_rd32(val + 4);
	k->timeout_ms = wire_rd32(val + 8);
	return 0;
}

int access_add_nat(struct stun_builder *b, enum ph_nat_mapping map, enum ph_nat_filtering filt)
{
	uint8_t v[sizeof(struct ph_nat_attr)] = {0};

	/* Range-check before narrowing to a byte: 0x101 must not become 1. */
	if ((unsigned int)map > 0xFF || (unsigned int)filt > 0xFF)
		return add_checked(b, PH_ATTR_NAT, NULL, 0);
	v[0] = (uint8_t)map;
	v[1] = (uint8_t)filt;
	return add_checked(b, PH_ATTR_NAT, v, sizeof(v));
}

int access_get_nat(const struct stun_msg *m, enum ph_nat_mapping *map, enum ph_nat_filtering *filt)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_NAT, &val, &len);

	if (err)
		return err;
	*map = (enum ph_nat_mapping)val[0];
	*filt = (enum ph_nat_filtering)val[1];
	return 0;
}

int access_add_page(struct stun_builder *b, uint16_t index, uint16_t count)
{
	uint8_t v[sizeof(struct ph_page_attr)];

	wire_wr16(v, index);
	wire_wr16(v + 2, count);
	return add_checked(b, PH_ATTR_PAGE, v, sizeof(v));
}

int access_get_page(const struct stun_msg *m, uint16_t *index, uint16_t *count)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_PAGE, &val, &len);

	if (err)
		return err;
	*index = wire_rd16(val);
	*count = wire_rd16(val + 2);
	return 0;
}

int access_add_peer_name(struct stun_builder *b, const char *name, size_t len)
{
	return add_checked(b, PH_ATTR_PEER_NAME, name, len);
}

int access_get_peer_name(const struct stun_msg *m, char name[PH_NAME_MAX + 1])
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_PEER_NAME, &val, &len);

	if (err)
		return err;
	memcpy(name, val, len);
	name[len] = '\0';
	return 0;
}

int access_add_text(struct stun_builder *b, const char *text, size_t len)
{
	return add_checked(b, PH_ATTR_TEXT, text, len);
}

int access_get_text(const struct stun_msg *m, const char **text, size_t *len)
{
	const uint8_t *val;
	uint16_t l;
	int err = get_checked(m, PH_ATTR_TEXT, &val, &l);

	if (err)
		return err;
	*text = (const char *)val;
	*len = l;
	return 0;
}

int access_add_punch_flags(struct stun_builder *b, uint32_t flags)
{
	uint8_t v[4];

	wire_wr32(v, flags);
	return add_checked(b, PH_ATTR_PUNCH_FLAGS, v, sizeof(v));
}

int access_get_punch_flags(const struct stun_msg *m, uint32_t *flags)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_PUNCH_FLAGS, &val, &len);

	if (err)
		return err;
	*flags = wire_rd32(val);
	return 0;
}

/* --- contacts ---------------------------------------------------------- */

#define CONTACT_VALUE_MAX (sizeof(struct ph_contact_attr) + PH_NAME_MAX)

static int wire_addr_from(struct ph_wire_addr *w, const struct sockaddr_storage *ss)
{
	memset(w, 0, sizeof(*w));
	switch (ss->ss_family) {
	case AF_UNSPEC:
		return 0;
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		w->family = STUN_FAMILY_IPV4;
		w->port = sin->sin_port;
		memcpy(w->addr, &sin->sin_addr, 4);
		return 0;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		w->family = STUN_FAMILY_IPV6;
		w->port = sin6->sin6_port;
		memcpy(w->addr, &sin6->sin6_addr, 16);
		return 0;
	}
	}
	return -EINVAL;
}

static void wire_addr_to(struct sockaddr_storage *ss, const struct ph_wire_addr *w)
{
	memset(ss, 0, sizeof(*ss));
	if (w->family == STUN_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = w->port;
		memcpy(&sin->sin_addr, w->addr, 4);
	} else if (w->family == STUN_FAMILY_IPV6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = w->port;
		memcpy(&sin6->sin6_addr, w->addr, 16);
	} else {
		ss->ss_family = AF_UNSPEC;
	}
}

/* Wire value of @c into @out (CONTACT_VALUE_MAX bytes); its length, or -EINVAL. */
static int encode_contact(const struct access_contact *c, uint8_t *out)
{
	struct ph_contact_attr fixed;
	size_t nlen;

	if (!c)
		return -EINVAL;
	nlen = strnlen(c->name, sizeof(c->name));
	if ((unsigned int)c->state > 0xFF || (unsigned int)c->mapping > 0xFF ||
	    (unsigned int)c->filtering > 0xFF || nlen > PH_NAME_MAX)
		return -EINVAL;
	memset(&fixed, 0, sizeof(fixed));
	fixed.state = (uint8_t)c->state;
	fixed.flags = c->flags;
	fixed.mapping = (uint8_t)c->mapping;
	fixed.filtering = (uint8_t)c->filtering;
	fixed.name_len = (uint8_t)nlen;
	if (wire_addr_from(&fixed.reflexive, &c->reflexive) ||
	    wire_addr_from(&fixed.local, &c->local))
		return -EINVAL;
	memcpy(fixed.pair_key, c->pair_key, PH_PAIR_KEY_LEN);
	memcpy(out, &fixed, sizeof(fixed));
	memcpy(out + sizeof(fixed), c->name, nlen);
	/* Same rule as the receiver's: we never send what we would refuse. */
	if (!contact_value_ok(out, sizeof(fixed) + nlen))
		return -EINVAL;
	return (int)(sizeof(fixed) + nlen);
}

size_t access_contact_wire_len(const struct access_contact *c)
{
	return STUN_ATTR_HEADER_LEN +
	       wire_pad4(sizeof(struct ph_contact_attr) + strnlen(c->name, PH_NAME_MAX + 1));
}

static int add_contact(struct stun_builder *b, uint16_t type, const struct access_contact *c)
{
	uint8_t v[CONTACT_VALUE_MAX];
	int len;

	if (b->err)
		return b->err;
	len = encode_contact(c, v);
	if (len < 0) {
		b->err = len;
		return len;
	}
	return stun_build_add(b, type, v, (size_t)len);
}

int access_add_contact(struct stun_builder *b, const struct access_contact *c)
{
	return add_contact(b, PH_ATTR_CONTACT, c);
}

int access_add_presence(struct stun_builder *b, const struct access_contact *c)
{
	return add_contact(b, PH_ATTR_PRESENCE, c);
}

int access_contact_decode(const uint8_t *val, size_t len, struct access_contact *c)
{
	struct ph_contact_attr fixed;

	if (!val || !contact_value_ok(val, len))
		return -STUN_E_BAD_VALUE;
	memcpy(&fixed, val, sizeof(fixed));
	memset(c, 0, sizeof(*c));
	c->state = (enum ph_contact_state)fixed.state;
	c->flags = fixed.flags;
	c->mapping = (enum ph_nat_mapping)fixed.mapping;
	c->filtering = (enum ph_nat_filtering)fixed.filtering;
	memcpy(c->name, val + sizeof(fixed), fixed.name_len);
	c->name[fixed.name_len] = '\0';
	wire_addr_to(&c->reflexive, &fixed.reflexive);
	wire_addr_to(&c->local, &fixed.local);
	memcpy(c->pair_key, fixed.pair_key, PH_PAIR_KEY_LEN);
	return 0;
}

int access_next_contact(const struct stun_msg *m, struct stun_attr_iter *it,
			struct access_contact *c)
{
	const uint8_t *val;
	uint16_t type, len;
	int err;

	while (stun_msg_next_attr(m, it, &type, &val, &len)) {
		if (type != PH_ATTR_CONTACT)
			continue;
		err = access_contact_decode(val, len, c);
		return err ? err : 1;
	}
	return 0;
}

int access_get_presence(const struct stun_msg *m, struct access_contact *c)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, PH_ATTR_PRESENCE, &val, &len);

	if (err)
		return err;
	return access_contact_decode(val, len, c);
}

/* --- protection -------------------------------------------------------- */

int access_msg_finish(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	if (!b->err && (!key || !keylen))
		b->err = -EINVAL;
	stun_build_integrity_sha256(b, key, keylen, STUN_HMAC_SHA256_LEN);
	stun_build_fingerprint(b);
	return stun_build_finish(b);
}

int access_msg_verify(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	/*
	 * Without FINGERPRINT a message is not ours (every access message
	 * ends with one); stun_msg_parse() already checked its CRC.
	 */
	if (!m->has_fingerprint)
		return -STUN_E_BAD_FINGERPRINT;
	if (!key || !keylen)
		return -EINVAL;
	return stun_msg_check_integrity_sha256(m, key, keylen);
}

/* --- paging ------------------------------------------------------------ */

int access_page_fill(struct stun_builder *b, const struct access_contact *c, size_t n)
{
	size_t limit = b->cap < PH_DATAGRAM_MAX ? b->cap : PH_DATAGRAM_MAX;
	uint8_t v[CONTACT_VALUE_MAX];
	size_t i;
	int len;

	if (b->err)
		return b->err;
	if (n && !c)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		len = encode_contact(&c[i], v);
		if (len < 0)
			return len;
		/* Room for this contact and for the integrity and fingerprint to come. */
		if (b->len + STUN_ATTR_HEADER_LEN + wire_pad4((size_t)len) + ACCESS_TRAILER_LEN > limit)
			break;
		if (stun_build_add(b, PH_ATTR_CONTACT, v, (size_t)len))
			return b->err;
	}
	return (int)i;
}

int access_page_plan(const struct access_contact *c, size_t n, size_t page, size_t *first,
		     size_t *count)
{
	const size_t budget = PH_DATAGRAM_MAX - ACCESS_PAGE_OVERHEAD;
	size_t pages = 1, used = 0, start = 0, i;
	uint8_t v[CONTACT_VALUE_MAX];
	bool found = page == 0;

	_Static_assert(PH_DATAGRAM_MAX - ACCESS_PAGE_OVERHEAD >=
			   STUN_ATTR_HEADER_LEN + CONTACT_VALUE_MAX,
		       "a page holds at least one contact of the longest name");
	if (n && !c)
		return -EINVAL;
	*first = 0;
	*count = 0;
	for (i = 0; i < n; i++) {
		size_t need;

		if (encode_contact(&c[i], v) < 0)
			return -EINVAL;
		need = access_contact_wire_len(&c[i]);
		if (used + need > budget) {
			/* Close the current page, open the next one at contact i. */
			if (pages - 1 == page)
				*count = i - start;
			pages++;
			start = i;
			used = 0;
			if (pages - 1 == page) {
				*first = i;
				found = true;
			}
		}
		used += need;
	}
	if (pages - 1 == page)
		*count = n - start;
	if (pages > 0xFFFF)
		return -E2BIG;
	if (!found) {
		*first = 0;
		*count = 0;
		return -ERANGE;
	}
	return (int)pages;
}

/* --- pair keys --------------------------------------------------------- */

int access_pair_key(const uint8_t *secret, size_t len, uint32_t sess_a,
		    const uint8_t tok_a[PH_TOKEN_LEN], uint32_t sess_b,
		    const uint8_t tok_b[PH_TOKEN_LEN], uint8_t out[PH_PAIR_KEY_LEN])
{
	static const char label[] = "pinhole pair";
	uint8_t msg[sizeof(label) - 1 + 2 * (4 + PH_TOKEN_LEN)], *p = msg;
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int outlen = 0;
	bool swap;

	if (!secret || !len || len > INT32_MAX || !tok_a || !tok_b)
		return -EINVAL;
	/* Live sessions never share an id; the token order only breaks a tie nobody sees. */
	swap = sess_a > sess_b || (sess_a == sess_b && memcmp(tok_a, tok_b, PH_TOKEN_LEN) > 0);
	memcpy(p, label, sizeof(label) - 1);
	p += sizeof(label) - 1;
	wire_wr32(p, swap ? sess_b : sess_a);
	memcpy(p + 4, swap ? tok_b : tok_a, PH_TOKEN_LEN);
	p += 4 + PH_TOKEN_LEN;
	wire_wr32(p, swap ? sess_a : sess_b);
	memcpy(p + 4, swap ? tok_a : tok_b, PH_TOKEN_LEN);
	if (!HMAC(EVP_sha256(), secret, (int)len, msg, sizeof(msg), mac, &outlen) ||
	    outlen != PH_PAIR_KEY_LEN)
		return -ENOMEM;
	memcpy(out, mac, PH_PAIR_KEY_LEN);
	return 0;
}

int access_session_key(const uint8_t *lt_key, size_t lt_len, const char *nonce, size_t nonce_len,
		       uint32_t id, const uint8_t token[PH_TOKEN_LEN], uint8_t out[PH_PAIR_KEY_LEN])
{
	static const char label[] = "pinhole session";
	uint8_t msg[sizeof(label) - 1 + STUN_NONCE_MAX + 4 + PH_TOKEN_LEN];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int outlen = 0;
	size_t n = 0;

	if (!lt_key || !lt_len || lt_len > INT32_MAX || !nonce || nonce_len > STUN_NONCE_MAX ||
	    !token)
		return -EINVAL;
	memcpy(msg, label, sizeof(label) - 1);
	n += sizeof(label) - 1;
	memcpy(msg + n, nonce, nonce_len);
	n += nonce_len;
	wire_wr32(msg + n, id);
	n += 4;
	memcpy(msg + n, token, PH_TOKEN_LEN);
	n += PH_TOKEN_LEN;
	if (!HMAC(EVP_sha256(), lt_key, (int)lt_len, msg, n, mac, &outlen) ||
	    outlen != PH_PAIR_KEY_LEN)
		return -ENOMEM;
	memcpy(out, mac, PH_PAIR_KEY_LEN);
	return 0;
}
