/* SPDX-License-Identifier: MIT */
/*
 * pinhole-load selftest: checks that the generator builds correct requests
 * (fields, IPv4 and UDP checksums, distinct sources) and that the reply
 * counter classifies hand-made answers right, all by BPF_PROG_TEST_RUN, no
 * network needed.  Prints TAP lines ("ok - ..." / "not ok - ...").
 */
#ifndef PINHOLE_BENCH_SELFTEST_H
#define PINHOLE_BENCH_SELFTEST_H

/* Mode entry point.  Returns 0 when every check passed, 1 otherwise, 2 on usage errors. */
int selftest_main(int argc, char **argv);

#endif
