import ChatFuzz

// Fuzzes with libFuzzer when built by scripts/fuzz.sh, replays saved inputs otherwise.
FuzzDriver.main(name: "fuzz-log-record", LogRecordFuzzer.testOneInput)
