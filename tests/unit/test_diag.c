/* test_diag: the "did you mean" distance and the first-error-wins rule. */
#include "check.h"
#include "diag.h"

int main(void)
{
    CHECK(diag_edit_distance("kitten", "sitting", 5) == 3);
    CHECK(diag_edit_distance("", "abc", 5) == 3);
    CHECK(diag_edit_distance("same", "same", 0) == 0);
    CHECK(diag_edit_distance("abcdef", "uvwxyz", 2) > 2);

    const char *drivers[] = {"level/ultrasonic-generic", "flow/electromagnetic-generic", "elevator/generic"};
    CHECK(diag_closest("level/ultrasonic-genric", drivers, 3) == drivers[0]);
    CHECK(diag_closest("pump/unknown", drivers, 3) == NULL);
    const char *keys[] = {"poll_ms", "timeout_ms", "unit"};
    CHECK(diag_closest("pol_ms", keys, 3) == keys[0]);

    struct diag d;
    diag_clear(&d);
    diag_set(&d, "first %d", 1);
    diag_set(&d, "second");
    CHECK(strcmp(d.msg, "first 1") == 0);
    return check_report();
}
