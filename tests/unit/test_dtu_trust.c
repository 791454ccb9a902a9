/* test_dtu_trust: the pure parts of DTU trust — address blocks (parsing, IPv4, IPv6, IPv4 seen
 * on an IPv6 socket, prefix lengths that split a byte) and registration matching (whole packet,
 * secret, the byte after it, longest of several, who a wrong packet claims to be, and what of
 * it may be logged). Every case is worked by hand in the comment beside it. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "cidr.h"
#include "dtu_match.h"

/* A peer's address as accept() gives it, of either family. */
static struct sockaddr_storage peer(int family, const char *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        inet_pton(AF_INET, a, &((struct sockaddr_in *)&ss)->sin_addr);
    else
        inet_pton(AF_INET6, a, &((struct sockaddr_in6 *)&ss)->sin6_addr);
    return ss;
}

#define v4(a) peer(AF_INET, a)
#define v6(a) peer(AF_INET6, a)

static int in(const char *block, struct sockaddr_storage peer)
{
    struct cidr c;
    const char *why = NULL;
    if (cidr_parse(block, &c, &why) < 0)
        return -1;
    return cidr_match(&c, (const struct sockaddr *)&peer);
}

static void test_cidr_parse(void)
{
    struct cidr c;
    const char *why = NULL;
    CHECK(cidr_parse("10.64.0.0/16", &c, &why) == 0 && c.family == AF_INET && c.bits == 16);
    CHECK(c.addr[0] == 10 && c.addr[1] == 64 && c.addr[2] == 0);
    CHECK(cidr_parse("127.0.0.1", &c, &why) == 0 && c.bits == 32);       /* one address */
    CHECK(cidr_parse("::1", &c, &why) == 0 && c.family == AF_INET6 && c.bits == 128);
    CHECK(cidr_parse("2001:db8::/32", &c, &why) == 0 && c.bits == 32 && c.addr[0] == 0x20 && c.addr[3] == 0xb8);
    CHECK(cidr_parse("0.0.0.0/0", &c, &why) == 0 && c.bits == 0);        /* everyone, spelled out */
    /* 10.64.1.9/16: host bits set — 10.64.0.0/16 was meant, or 10.64.1.9/32 */
    CHECK(cidr_parse("10.64.1.9/16", &c, &why) == -1 && strstr(why, "past its prefix"));
    /* 192.168.1.128/25 is a block; .129/25 is not (bit 0 of the last byte is below the prefix) */
    CHECK(cidr_parse("192.168.1.128/25", &c, &why) == 0);
    CHECK(cidr_parse("192.168.1.129/25", &c, &why) == -1);
    CHECK(cidr_parse("10.0.0.0/33", &c, &why) == -1 && strstr(why, "0..32"));
    CHECK(cidr_parse("::/129", &c, &why) == -1 && strstr(why, "0..128"));
    CHECK(cidr_parse("10.0.0.0/", &c, &why) == -1);
    CHECK(cidr_parse("10.0.0.0/-1", &c, &why) == -1);
    CHECK(cidr_parse("10.0.0.0/+8", &c, &why) == -1);
    CHECK(cidr_parse("10.0.0.0/8x", &c, &why) == -1);
    CHECK(cidr_parse("gw.local/24", &c, &why) == -1 && strstr(why, "numeric"));
    CHECK(cidr_parse("", &c, &why) == -1);
    CHECK(cidr_parse("/8", &c, &why) == -1);
    CHECK(cidr_parse("10.0.0/8", &c, &why) == -1);                       /* inet_pton wants four parts */
}

static void test_cidr_match(void)
{
    CHECK(in("10.64.0.0/16", v4("10.64.255.1")) == 1);
    CHECK(in("10.64.0.0/16", v4("10.65.0.1")) == 0);
    /* /12 splits the second byte: 172.16.0.0/12 is 172.16.0.0 .. 172.31.255.255 (0x10..0x1f) */
    CHECK(in("172.16.0.0/12", v4("172.31.255.255")) == 1);
    CHECK(in("172.16.0.0/12", v4("172.32.0.0")) == 0);
    CHECK(in("172.16.0.0/12", v4("172.15.255.255")) == 0);
    CHECK(in("127.0.0.1", v4("127.0.0.1")) == 1);
    CHECK(in("127.0.0.1", v4("127.0.0.2")) == 0);
    CHECK(in("0.0.0.0/0", v4("203.0.113.7")) == 1);
    /* IPv6: 2001:db8::/32 holds 2001:db8:ffff::1, not 2001:db9:: */
    CHECK(in("2001:db8::/32", v6("2001:db8:ffff::1")) == 1);
    CHECK(in("2001:db8::/32", v6("2001:db9::")) == 0);
    /* /33 splits the fifth byte: 2001:db8:8000::/33 starts at bit 32 = 1 */
    CHECK(in("2001:db8:8000::/33", v6("2001:db8:ffff::")) == 1);
    CHECK(in("2001:db8:8000::/33", v6("2001:db8:7fff::")) == 0);
    /* an IPv4 peer on a dual-stack listener arrives as ::ffff:10.64.1.9 */
    CHECK(in("10.64.0.0/16", v6("::ffff:10.64.1.9")) == 1);
    CHECK(in("10.64.0.0/16", v6("::ffff:10.65.1.9")) == 0);
    /* ...but an IPv6 block does not take IPv4 peers, nor the other way round */
    CHECK(in("::/0", v4("10.64.1.9")) == 0);
    CHECK(in("0.0.0.0/0", v6("2001:db8::1")) == 0);
    /* a v4-compatible-looking address that is not v4-mapped stays IPv6 */
    CHECK(in("10.64.0.0/16", v6("::10.64.1.9")) == 0);
    struct cidr list[2];
    const char *why;
    CHECK(cidr_parse("10.64.0.0/16", &list[0], &why) == 0 && cidr_parse("::1", &list[1], &why) == 0);
    struct sockaddr_storage a = v6("::1"), b = v4("10.1.1.1");
    CHECK(cidr_match_any(list, 2, (const struct sockaddr *)&a));
    CHECK(!cidr_match_any(list, 2, (const struct sockaddr *)&b));
    CHECK(!cidr_match_any(list, 0, (const struct sockaddr *)&a));
}

#define P(s) (const uint8_t *)(s), sizeof(s) - 1

static int match(const struct dtu_expect *e, int n, const char *text, int *claimed)
{
    return dtu_match(e, n, (const uint8_t *)text, strlen(text), claimed);
}

static void test_match(void)
{
    /* 0: "{id}:{secret}" with IMEI 868120034567891 and secret Xk3pQ9zw (public part 16 bytes)
     * 1: "REG{id}" with ICCID 89860412345678901234, no secret
     * 2: "{id}:{secret}" with IMEI 86812003456789 (one digit shorter than 0's) and secret s3cretAB */
    const struct dtu_expect e[] = {
        {P("868120034567891:Xk3pQ9zw"), 16, 8},
        {P("REG89860412345678901234"), 0, 0},
        {P("86812003456789:s3cretAB"), 15, 8},
    };
    int claimed = -2;
    CHECK(match(e, 3, "868120034567891:Xk3pQ9zw", &claimed) == 0 && claimed == 0);
    /* followed by a byte that cannot continue it: CR LF, NUL, punctuation */
    CHECK(match(e, 3, "868120034567891:Xk3pQ9zw\r\n", NULL) == 0);
    CHECK(dtu_match(e, 3, (const uint8_t *)"868120034567891:Xk3pQ9zw\0", 25, NULL) == 0);
    /* ...but a letter or digit would make it another secret */
    CHECK(match(e, 3, "868120034567891:Xk3pQ9zwX", &claimed) == -1 && claimed == 0);
    /* the right id, a wrong, missing or half secret: no match; it claimed DTU 0 */
    CHECK(match(e, 3, "868120034567891:Xk3pQ9zx", &claimed) == -1 && claimed == 0);
    CHECK(match(e, 3, "868120034567891:", &claimed) == -1 && claimed == 0);
    CHECK(match(e, 3, "868120034567891:Xk3p", &claimed) == -1 && claimed == 0);
    /* the id alone (the label on the box) claims nothing: the public part includes the ':' */
    CHECK(match(e, 3, "868120034567891", &claimed) == -1 && claimed == -1);
    /* the shorter IMEI's packet is not a prefix trick for the longer one, nor the reverse */
    CHECK(match(e, 3, "86812003456789:s3cretAB", &claimed) == 2 && claimed == 2);
    CHECK(match(e, 3, "868120034567891:s3cretAB", &claimed) == -1 && claimed == 0);
    CHECK(match(e, 3, "86812003456789:Xk3pQ9zw", &claimed) == -1 && claimed == 2);
    /* no secret: the packet alone, with the same rule for the byte after */
    CHECK(match(e, 3, "REG89860412345678901234", &claimed) == 1 && claimed == -1);
    CHECK(match(e, 3, "REG89860412345678901234;", NULL) == 1);
    CHECK(match(e, 3, "REG898604123456789012345", NULL) == -1);
    CHECK(match(e, 3, "REG8986041234567890123", NULL) == -1);
    CHECK(match(e, 3, "", &claimed) == -1 && claimed == -1);
    CHECK(match(e, 0, "REG89860412345678901234", &claimed) == -1 && claimed == -1);
    /* the longest of two packets that both match whole wins: "AB" and "AB-1" on "AB-1" */
    const struct dtu_expect two[] = {{P("AB"), 0, 0}, {P("AB-1"), 0, 0}};
    CHECK(match(two, 2, "AB-1", NULL) == 1);
    CHECK(match(two, 2, "AB-2", NULL) == 0);  /* '-' cannot continue "AB" */
    /* a secret first, then the id: "{secret}#{id}"; its public part is empty, so it claims nothing */
    const struct dtu_expect first[] = {{P("Xk3pQ9zw#868120034567891"), 0, 8}};
    CHECK(match(first, 1, "Xk3pQ9zw#868120034567891", &claimed) == 0 && claimed == -1);
    CHECK(match(first, 1, "Xk3pQ9zx#868120034567891", &claimed) == -1 && claimed == -1);
    /* what of an unmatched packet may be logged: up to the shortest public part before a secret */
    CHECK(dtu_match_loggable(e, 3, 40) == 15);
    CHECK(dtu_match_loggable(e, 3, 10) == 10);
    CHECK(dtu_match_loggable(e + 1, 1, 40) == 40);     /* no secret anywhere: all of it */
    CHECK(dtu_match_loggable(first, 1, 40) == 0);      /* a secret first: nothing */
    CHECK(dtu_same_secret((const uint8_t *)"abc", (const uint8_t *)"abc", 3));
    CHECK(!dtu_same_secret((const uint8_t *)"abc", (const uint8_t *)"abd", 3));
    CHECK(!dtu_same_secret((const uint8_t *)"xbc", (const uint8_t *)"abc", 3));
    CHECK(dtu_same_secret((const uint8_t *)"", (const uint8_t *)"", 0));
}

/* A registration read in pieces: a match on the bytes so far is final only when no longer
 * expected packet still begins with them. */
static void test_incomplete(void)
{
    const struct dtu_expect ids[] = {{P("1234"), 0, 0}, {P("12345"), 0, 0}};
    /* "1234" then "5": after the first piece DTU 1234 matches, but 12345 may be coming */
    CHECK(match(ids, 2, "1234", NULL) == 0);
    CHECK(dtu_match_incomplete(ids, 2, (const uint8_t *)"1234", 4));
    CHECK(match(ids, 2, "12345", NULL) == 1);
    CHECK(!dtu_match_incomplete(ids, 2, (const uint8_t *)"12345", 5));
    /* "1234\r": no longer packet begins so; DTU 1234 at once */
    CHECK(match(ids, 2, "1234\r", NULL) == 0 && !dtu_match_incomplete(ids, 2, (const uint8_t *)"1234\r", 5));
    /* "1235" begins nothing expected */
    CHECK(!dtu_match_incomplete(ids, 2, (const uint8_t *)"1235", 4));
    /* alone on its port, "1234" is final */
    CHECK(!dtu_match_incomplete(ids, 1, (const uint8_t *)"1234", 4));
    /* the bytes compared reach into a secret: "86:ab" with secret "ab" may become "86:abc" */
    const struct dtu_expect sec[] = {{P("86:ab"), 3, 2}, {P("86:abc"), 3, 3}};
    CHECK(match(sec, 2, "86:ab", NULL) == 0 && dtu_match_incomplete(sec, 2, (const uint8_t *)"86:ab", 5));
    CHECK(!dtu_match_incomplete(sec, 2, (const uint8_t *)"86:ax", 5));
}

int main(void)
{
    test_cidr_parse();
    test_cidr_match();
    test_match();
    test_incomplete();
    return check_report();
}
