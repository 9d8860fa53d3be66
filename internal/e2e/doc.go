// Package e2e proves the watchdog's money-safety end to end: it builds the
// real topup-watchdog binary (internal/bintest), runs it as a child process
// (a proc) in a world (a simulated Vonage account served in the test
// process, internal/sim, and a notification receiver), and checks the
// account's own record of every request.
//
// The tests kill the binary with SIGKILL at each step of a top-up and restart
// it on the same ledger (crash points), stop it with SIGSTOP between a claim
// and its request (pauses), step its wall clock while a top-up is pending
// (clock steps), run it through random faults, restarts, pauses, clock steps
// and a hostile HTTP/2 front over TLS (internal/h2test) and then check the
// contract's invariants (fault storm, internal/simcheck), give it a
// read-only, full or corrupt state folder (disk faults), and scan every byte
// it writes, in all of them, for every form of the API secret, the trx
// reference and the other secrets (secret sweep, internal/secrettest). The
// binary's testing hooks are TOPUP_TEST_CRASH_AT, TOPUP_TEST_PAUSE_AT and
// TOPUP_TEST_CLOCK_FILE (cmd/topup-watchdog/crash.go and testhooks.go).
//
// The package holds tests only: go test -race ./internal/e2e/ takes about 75
// seconds, most of it the storm (20 seconds with -short); its tests run up to
// eight at a time, as they mostly wait. The disk-fault tests mount tmpfs file
// systems, which needs root (CI has it); without it they skip and say why.
// The pause tests need Linux 5.3 or later (pidfd). E2E_STORM_SEED replays a
// storm whose seed a run logged, and E2E_STORM_VERBOSE=1 logs its timeline.
package e2e
