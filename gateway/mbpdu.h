/* mbpdu: Modbus read requests built and their replies judged, in one place for every transport;
 * and the RTU frame around a PDU (CRC-16, length from the function code, finding a reply in a
 * byte stream). Pure functions: no I/O, no allocation. */
#ifndef CARETAKER_MBPDU_H
#define CARETAKER_MBPDU_H

#include <stddef.h>
#include <stdint.h>

/* Modbus Application Protocol v1.1b3, 4.1: a PDU is at most 253 bytes; an RTU frame adds the
 * address and the CRC (Modbus over Serial Line v1.02, 2.5.1: 256 bytes). */
#define MBPDU_MAX 253
#define MBRTU_MAX 256

/* How one exchange ended, the same words for every transport. */
enum mb_status {
    MB_OK = 0,
    MB_TIMEOUT,   /* no reply (or nothing but heartbeats) within the timeout */
    MB_BAD,       /* a reply that cannot be trusted: CRC, unit, function, length, transaction */
    MB_EXCEPTION, /* a well-formed exception response; the code is returned apart */
    MB_LINK,      /* the port or the connection failed; reopen before the next request */
};

const char *mb_status_name(enum mb_status s);

/* Exception codes (Modbus Application Protocol v1.1b3, 7). */
#define MB_EXC_ILLEGAL_FUNCTION 0x01
#define MB_EXC_ILLEGAL_ADDRESS 0x02
#define MB_EXC_ILLEGAL_VALUE 0x03
#define MB_EXC_SERVER_FAILURE 0x04
#define MB_EXC_ACKNOWLEDGE 0x05
#define MB_EXC_SERVER_BUSY 0x06

/* "illegal data address" and the like; "exception 0x0b" for codes without a name. */
const char *mbpdu_exception_name(int code, char *buf, size_t n);

/* Function code reading a table (enum reg_table: coil 01, discrete 02, input 04, holding 03). */
uint8_t mbpdu_read_function(int table);

/* Writes the 5-byte read request PDU: function, start address, quantity (big-endian).
 * Returns 5, or -1 when table or count is outside what one read may ask (6.1-6.4). */
int mbpdu_build_read(int table, uint16_t start, uint16_t count, uint8_t *pdu);

/* Judges the reply (rsp_unit, rsp[0..len)) to the read request (req_unit, req[0..5)): the unit
 * must be the one asked, the function the one asked (or it with bit 7 set: an exception,
 * *exception gets its code), and the byte count must fit the quantity asked, exactly.
 * Returns MB_OK, MB_EXCEPTION or MB_BAD; why (n bytes) says what was wrong, for logs. */
enum mb_status mbpdu_check_read(uint8_t req_unit, const uint8_t *req, uint8_t rsp_unit, const uint8_t *rsp, size_t len,
                                int *exception, char *why, size_t n);

/* After MB_OK from mbpdu_check_read: the registers (FC 03/04, big-endian on the wire) or the
 * bits (FC 01/02, one byte 0/1 each, least significant bit of the first byte first). */
void mbpdu_unpack_regs(const uint8_t *rsp, uint16_t count, uint16_t *regs);
void mbpdu_unpack_bits(const uint8_t *rsp, uint16_t count, uint8_t *bits);

/* CRC-16/MODBUS (Modbus over Serial Line v1.02, 6.2.2): reflected polynomial 0xA001, initial
 * value 0xFFFF; the frame carries the low byte first. */
uint16_t mbrtu_crc16(const uint8_t *p, size_t n);

/* unit + pdu + CRC into out (MBRTU_MAX bytes). Returns the frame length. */
size_t mbrtu_wrap(uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out);

/* What mbrtu_reply_len returns for a front that cannot be a reply. */
#define MBRTU_LEN_UNKNOWN (-1)  /* a function code no reply to us carries */
#define MBRTU_LEN_TOO_LONG (-2) /* a byte count that would make the frame longer than MBRTU_MAX */

/* Length of the reply frame at buf from its function code: 5 for an exception, 5 + byte count
 * for 01..04, 8 for the write echoes 05, 06, 15, 16; never more than MBRTU_MAX. Returns 0 when
 * more bytes are needed to tell (the byte count has not arrived), MBRTU_LEN_UNKNOWN or
 * MBRTU_LEN_TOO_LONG when the front cannot be a reply. A byte count of 252..255 is garbage,
 * not a long frame: whoever copies a frame may rely on it fitting MBRTU_MAX. */
int mbrtu_reply_len(const uint8_t *buf, size_t n);

/* Why the front of buf (n bytes) cannot be a reply, for logs: "reply frame of 260 bytes (at
 * most 256)", "function 0x2b is not a reply", or "CRC error". */
void mbrtu_describe_garbage(const uint8_t *buf, size_t n, char *why, size_t whylen);

/* Bytes a stream may carry besides frames: a DTU's heartbeat and its registration packet,
 * which many DTUs repeat. Skipped wherever they stand before a reply. */
struct mbrtu_skip {
    const uint8_t *lit[2];
    size_t len[2];
};

enum mbrtu_scan { MBRTU_NEED_MORE, MBRTU_FRAME, MBRTU_GARBAGE };

/* Looks for the reply to a request (unit, fc) at the front of buf.
 * FRAME: a complete frame with a good CRC starts at *off and is *len bytes long (at most
 * MBRTU_MAX); its unit and function are not judged here (mbpdu_check_read does that), so a
 * wrong unit is seen.
 * NEED_MORE: what is there may still become that frame (*off bytes before it can be dropped).
 * GARBAGE: what starts at *off cannot be a frame. On a serial line (resync false, *off 0): a
 * bad CRC, a function no reply carries, or a byte count too long for any frame. With resync (a
 * DTU's socket, where heartbeats and noise may come before the reply), a front that cannot be
 * the reply is stepped over a byte at a time, and *skipped_noise counts bytes stepped over
 * that were not a known heartbeat or registration; only the reply's own start (our unit and
 * function) with a byte count too long for any frame is garbage there: it is the reply, and
 * no good. */
enum mbrtu_scan mbrtu_scan_reply(const uint8_t *buf, size_t n, uint8_t unit, uint8_t fc, int resync,
                                 const struct mbrtu_skip *skip, size_t *off, size_t *len, size_t *skipped_noise);

#endif
