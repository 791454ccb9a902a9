/* sim_frame: Modbus RTU and TCP framing — CRC-16, finding a request in a byte stream, wrapping a reply. */
#ifndef SIM_FRAME_H
#define SIM_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Largest ADU either transport carries: RTU 256 bytes, TCP 7 + 253. */
#define SIM_ADU_MAX 260
#define SIM_PDU_MAX 253

/* CRC-16/MODBUS (Modbus over Serial Line v1.02, 6.2.2): reflected polynomial 0xA001,
 * initial value 0xFFFF. The frame carries the low byte first. */
uint16_t sim_crc16(const uint8_t *p, size_t n);

enum sim_rtu_scan { SIM_RTU_NEED_MORE, SIM_RTU_FRAME, SIM_RTU_SKIP };

/* Looks for a request at the start of buf. The length comes from the function code
 * (8 bytes for 01..06; 9 + byte count for 15 and 16); for other codes, the shortest
 * prefix with a valid CRC is the frame. FRAME sets *frame_len (CRC checked); SKIP
 * means the first byte cannot start a valid frame and must be dropped. */
enum sim_rtu_scan sim_rtu_scan(const uint8_t *buf, size_t n, size_t *frame_len);

/* unit + pdu + CRC into out (SIM_ADU_MAX bytes); returns the ADU length. */
size_t sim_rtu_wrap(uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out);

/* MBAP header (transaction, protocol 0, length, unit) + pdu into out; returns the length. */
size_t sim_tcp_wrap(uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *out);

/* Length of the TCP ADU starting at buf: 0 when the header is not complete yet,
 * -1 when the header is not Modbus (protocol id not 0, length outside 2..254). */
int sim_tcp_adu_len(const uint8_t *buf, size_t n);

#endif
