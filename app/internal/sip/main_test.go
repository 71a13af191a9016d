package sip

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets the sipp tests overlap: they spend their time waiting on real-time audio, not
// CPU, so running only GOMAXPROCS of them at once (the default) just makes the package slow.
// All of them at once (about 20): a call that waits for a slot adds its seconds of audio to
// the package's time. An explicit -parallel still wins.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "24")
	}
	os.Exit(m.Run())
}
