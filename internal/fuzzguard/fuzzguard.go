// Package fuzzguard bounds one input of a fuzz target: an input that runs
// too long (a hang) crashes the fuzz worker with every goroutine's stack, so
// that the fuzzer saves it as a failing input.
package fuzzguard

import (
	"fmt"
	"runtime"
	"time"
)

// Timeout is how long one input may run.
const Timeout = 10 * time.Second

// Watch starts the watchdog for one input; the returned func stops it.
func Watch(data []byte) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(Timeout):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic(fmt.Sprintf("one input ran over %s: %q\n%s", Timeout, data, buf[:n]))
		}
	}()
	return func() { close(done) }
}
