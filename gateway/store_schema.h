/* store_schema: the store's row kinds and codes, shared by the store and by the tools that read
 * the file directly (`caretaker status`), so a number means the same in both. */
#ifndef CARETAKER_STORE_SCHEMA_H
#define CARETAKER_STORE_SCHEMA_H

/* Kinds of outbox rows: each is one MQTT message with its own (gateway, seq). Readings are the
 * only kind retention may evict before it is sent; every other kind waits for its broker. */
enum outbox_kind {
    OUTBOX_READING = 1,
    OUTBOX_DEVICE_STATE = 2,
    OUTBOX_EVENT = 3,
    OUTBOX_ALERT = 4,  /* one alert event, on <prefix>/alerts */
    OUTBOX_REPORT = 5, /* one device's daily report, on <prefix>/reports/daily */
};

/* The outbox kinds a name is known for, 1..OUTBOX_KIND_LAST. */
#define OUTBOX_KIND_LAST OUTBOX_REPORT

#endif
