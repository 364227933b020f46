package bench

import "os"

// ChildMain runs this process as one of the bench's child processes when
// args (os.Args[1:]) is the hidden argument naming one — the load
// generator (LoadgenArg) or the event-to-browser clients (WSClientsArg) —
// and returns its exit code and true; otherwise 0 and false. Any program
// that runs the bench (bucketdesk-bench, this package's test binary) calls
// it first thing, since the sections start os.Executable() again.
func ChildMain(args []string) (code int, ok bool) {
	switch {
	case len(args) == 1 && args[0] == LoadgenArg:
		return loadgenMain(os.Stdin, os.Stdout), true
	case WSClientsProcess(args):
		return WSClientsMain(os.Stdin, os.Stdout), true
	}
	return 0, false
}
