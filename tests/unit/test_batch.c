/* test_batch: the exact bytes of contract v2 readings messages for rows made by hand — readings
 * grouped by device in the order added, the points named once per group and the values in
 * their order (null where not good), each reading with its seq, invalid and offline as in v1; a
 * device whose points changed in a group of its own; the byte bound reached exactly and never
 * passed; a batch reused after clear. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "batch.h"
#include "check.h"

#define CHECK_JSON(got, want)                                                                                          \
    do {                                                                                                               \
        CHECK_MSG(strcmp((got), (want)) == 0, "\n  got  %s\n  want %s", (got), (want));                                \
        cJSON *j_ = cJSON_Parse(got);                                                                                  \
        CHECK_MSG(j_ != NULL, "not valid JSON: %s", (got));                                                            \
        cJSON_Delete(j_);                                                                                              \
    } while (0)

static struct outbox_value lift_vals[] = {{"floor", 3, Q_OK}, {"door", 0, Q_OK}};
static struct outbox_value pit_vals[] = {{"level", 0.82, Q_OK}, {"temp", NAN, Q_INVALID}, {"status", 0, Q_OFFLINE}};

static struct outbox_row reading(int64_t seq, int64_t ts, const char *device)
{
    bool lift = !strcmp(device, "lift-1");
    return (struct outbox_row){.seq = seq,
                               .kind = OUTBOX_READING,
                               .ts_ms = ts,
                               .device = device,
                               .nvalues = lift ? 2 : 3,
                               .values = lift ? lift_vals : pit_vals,
                               .full = 1};
}

static void test_grouped(void)
{
    struct batch b;
    struct jbuf out = {0};
    CHECK(batch_init(&b, "gw-01") == 0);
    CHECK(batch_render(&b, &out) == 0);
    CHECK_JSON(out.p, "{\"v\":2,\"gateway\":\"gw-01\",\"devices\":[]}");
    CHECK(batch_bytes(&b) == out.len);

    struct outbox_row rows[] = {reading(41, 1700000000000, "lift-1"), reading(42, 1700000000010, "pit-\"2\""),
                                reading(45, 1700000001000, "lift-1")};
    for (int i = 0; i < 3; i++)
        CHECK(batch_add(&b, &rows[i], 1 << 20) == 0);
    CHECK(batch_render(&b, &out) == 0);
    CHECK_JSON(out.p, "{\"v\":2,\"gateway\":\"gw-01\",\"devices\":["
                      "{\"device\":\"lift-1\",\"points\":[\"floor\",\"door\"],\"readings\":["
                      "{\"seq\":41,\"ts\":1700000000000,\"values\":[3,0],\"full\":true,\"snapshot_ts\":1700000000000},"
                      "{\"seq\":45,\"ts\":1700000001000,\"values\":[3,0],\"full\":true,\"snapshot_ts\":1700000001000}]},"
                      "{\"device\":\"pit-\\\"2\\\"\",\"points\":[\"level\",\"temp\",\"status\"],\"readings\":["
                      "{\"seq\":42,\"ts\":1700000000010,\"values\":[0.82,null,null],"
                      "\"invalid\":[\"temp\"],\"offline\":[\"status\"],\"full\":true,\"snapshot_ts\":1700000000010}]}]}");
    CHECK(batch_bytes(&b) == out.len);
    CHECK(batch_count(&b) == 3);
    const int64_t *seqs = batch_seqs(&b);
    CHECK(seqs[0] == 41 && seqs[1] == 42 && seqs[2] == 45);

    /* Cleared and reused: nothing of the last batch shows, a device seen before is a new group. */
    batch_clear(&b);
    CHECK(batch_count(&b) == 0);
    struct outbox_row again = reading(46, 5, "pit-\"2\"");
    CHECK(batch_add(&b, &again, 1 << 20) == 0);
    CHECK(batch_render(&b, &out) == 0);
    CHECK_JSON(out.p, "{\"v\":2,\"gateway\":\"gw-01\",\"devices\":[{\"device\":\"pit-\\\"2\\\"\","
                      "\"points\":[\"level\",\"temp\",\"status\"],\"readings\":[{\"seq\":46,\"ts\":5,"
                      "\"values\":[0.82,null,null],\"invalid\":[\"temp\"],\"offline\":[\"status\"],\"full\":true,"
                      "\"snapshot_ts\":5}]}]}");
    CHECK(batch_bytes(&b) == out.len);

    /* The same device with other points (its profile changed at a reload): a group of its own. */
    batch_clear(&b);
    struct outbox_row full = reading(50, 1, "lift-1"), floor_only = reading(51, 2, "lift-1");
    floor_only.nvalues = 1;
    floor_only.full = 0; /* report by exception: only the floor changed */
    floor_only.snapshot_ts = 1;
    CHECK(batch_add(&b, &full, 1 << 20) == 0 && batch_add(&b, &floor_only, 1 << 20) == 0);
    CHECK(batch_render(&b, &out) == 0);
    CHECK_JSON(out.p, "{\"v\":2,\"gateway\":\"gw-01\",\"devices\":["
                      "{\"device\":\"lift-1\",\"points\":[\"floor\",\"door\"],\"readings\":["
                      "{\"seq\":50,\"ts\":1,\"values\":[3,0],\"full\":true,\"snapshot_ts\":1}]},"
                      "{\"device\":\"lift-1\",\"points\":[\"floor\"],\"readings\":["
                      "{\"seq\":51,\"ts\":2,\"values\":[3],\"full\":false,\"snapshot_ts\":1}]}]}");
    CHECK(batch_bytes(&b) == out.len);
    jbuf_free(&out);
    batch_free(&b);
}

static void test_bound(void)
{
    struct batch b;
    struct jbuf out = {0};
    CHECK(batch_init(&b, "gw-01") == 0);
    /* {"v":2,"gateway":"gw-01","devices":[{"device":"lift-1","points":["floor","door"],
     * "readings":[{"seq":1,"ts":0,"values":[3,0],"full":true,"snapshot_ts":0}]}]} is 156 bytes; a
     * second reading of lift-1 adds 60 (a comma and {"seq":2,"ts":0,"values":[3,0],"full":true,
     * "snapshot_ts":0}). */
    struct outbox_row r1 = reading(1, 0, "lift-1"), r2 = reading(2, 0, "lift-1"), r3 = reading(3, 0, "lift-1");
    CHECK(batch_add(&b, &r1, 10) == 0); /* an empty batch takes one reading whatever the bound */
    CHECK(batch_bytes(&b) == 156);
    CHECK(batch_add(&b, &r2, 156 + 59) == 1); /* one byte short: refused, nothing added */
    CHECK(batch_count(&b) == 1 && batch_bytes(&b) == 156);
    CHECK(batch_add(&b, &r2, 156 + 60) == 0); /* exactly at the bound */
    CHECK(batch_add(&b, &r3, 156 + 60) == 1);
    CHECK(batch_render(&b, &out) == 0);
    CHECK(out.len == 156 + 60);
    CHECK(batch_bytes(&b) == out.len);
    /* a new device costs its group's opening as well, and the comma between groups */
    struct outbox_row p = reading(4, 0, "pit");
    size_t before = batch_bytes(&b);
    CHECK(batch_add(&b, &p, 1 << 20) == 0);
    CHECK(batch_render(&b, &out) == 0);
    CHECK(batch_bytes(&b) == out.len && out.len > before);
    jbuf_free(&out);
    batch_free(&b);
}

int main(void)
{
    test_grouped();
    test_bound();
    return check_report();
}
