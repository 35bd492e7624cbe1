package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	filesink "github.com/feedkeeper/feedkeeper/sink/file"
)

// catCmd is `feedkeeper cat`: the events of the files of --out file:DIR,
// as JSON Lines, with every complete event of a file cut short by a crash.
type catCmd struct {
	stdout, stderr io.Writer
	prefix         string
}

const catExitHelp = `Exit codes:
  0    every file was complete
  1    a file was cut short (the gateway was killed while it wrote it) or is damaged: every
       complete event before the break was written, and stderr names the file and how many
       events it held; or stdout could not be written
  2    bad usage: a path that does not exist, or a directory without event files`

func newCatCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &catCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "cat [flags] <DIR|FILE>... [flags]",
		Short: "write the events of files written by --out file:DIR to stdout, including those cut short by a crash",
		Long: `Writes the events of the JSON Lines files that "--out file:DIR" writes (.jsonl, or .jsonl.zst
decompressed) to stdout, one a line, in the order they were written: a DIR's files in name
order, then the next argument's.

A gateway killed at once (kill -9, a power loss) leaves its last file cut short: a partial
line, or an unfinished zstd frame on which "zstd -dc" fails. cat writes every complete event
of such a file, drops the partial one, names the file and the number of events on stderr,
goes on with the next file, and exits 1 at the end. The file a running gateway is writing
reads the same way, up to its last flush (--flush-every).

` + catExitHelp,
		Example: `  feedkeeper cat /var/lib/feedkeeper > events.jsonl
  feedkeeper cat /var/lib/feedkeeper/events-20260102T150405.123Z-000003.jsonl.zst | jq .`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.Run(cmd.Context(), args) },
	}
	cmd.Flags().StringVar(&c.prefix, "prefix", filesink.DefaultPrefix, "in a DIR, read the files whose names start with this")
	return cmd
}

// errCatBroken ends a cat that met a file cut short or damaged.
var errCatBroken = errors.New("cut short or damaged")

// Run writes the events of the files named by args until the last one or
// until ctx ends.
func (c *catCmd) Run(ctx context.Context, args []string) error {
	var k checks
	if c.prefix == "" || strings.ContainsRune(c.prefix, os.PathSeparator) {
		k.add("prefix", c.prefix, "want the start of the file names, e.g. events-")
	}
	if err := k.err(); err != nil {
		return err
	}
	var paths []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return usageErrorf("cat %s: %w", a, pathErr(err))
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		list, err := filesink.List(a, c.prefix)
		if err != nil {
			return usageErrorf("cat %s: %w", a, pathErr(err))
		}
		if len(list) == 0 {
			return usageErrorf("cat %s: no files named %s*%s or %s*%s in it", a, c.prefix, filesink.ExtPlain, c.prefix, filesink.ExtZstd)
		}
		paths = append(paths, list...)
	}
	out := bufio.NewWriterSize(c.stdout, 256<<10)
	var broken []string
	var events int64
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			out.Flush()
			return err
		}
		n, err := catFile(out, p)
		events += n
		var we writeError
		switch {
		case errors.As(err, &we):
			return fmt.Errorf("cat: writing to stdout: %w", we.err)
		case err != nil:
			broken = append(broken, p)
			// flushed first, so that what stderr says follows the events it counts
			if ferr := out.Flush(); ferr != nil {
				return fmt.Errorf("cat: writing to stdout: %w", ferr)
			}
			fmt.Fprintf(c.stderr, "feedkeeper cat: %v\n", err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("cat: writing to stdout: %w", err)
	}
	if len(broken) > 0 {
		return fmt.Errorf("cat: %d of %d files %w (%s); the %d complete events were written", len(broken), len(paths),
			errCatBroken, strings.Join(broken, ", "), events)
	}
	return nil
}

// writeError is a failure to write the output, not to read a file.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// catFile copies the complete events of the file at path to out and
// returns how many, and what ended the file when it did not end whole.
func catFile(out *bufio.Writer, path string) (int64, error) {
	r, err := filesink.OpenReader(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, pathErr(err))
	}
	defer r.Close()
	for {
		line, err := r.Next()
		if err == io.EOF {
			return r.Events(), nil
		}
		if err != nil {
			return r.Events(), err
		}
		out.Write(line) // an error sticks, and WriteByte returns it
		if err := out.WriteByte('\n'); err != nil {
			return r.Events(), writeError{err}
		}
	}
}
