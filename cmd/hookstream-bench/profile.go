package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// profileProcs fetches a CPU profile of d seconds from each hookstream
// process (HOOKSTREAM_PPROF is on with -profile) into dir, named after the
// scenario and the process's roles. It returns at once; wait waits for the
// profiles.
func profileProcs(ctx context.Context, dir, scenario string, procs []*hsProc, d time.Duration) (wait func()) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			name := filepath.Join(dir, scenario+"-"+strings.ReplaceAll(p.roles, ",", "+")+"-"+strconv.Itoa(p.pid())+".pprof")
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.metrics, int(d.Seconds()))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				fmt.Fprintf(os.Stderr, "[%s] profile of %s: %v\n", scenario, p.roles, err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fmt.Fprintf(os.Stderr, "[%s] profile of %s: %s\n", scenario, p.roles, resp.Status)
				return
			}
			f, err := os.Create(name)
			if err != nil {
				fmt.Fprintf(os.Stderr, "[%s] profile of %s: %v\n", scenario, p.roles, err)
				return
			}
			_, err = io.Copy(f, resp.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "[%s] profile of %s: %v\n", scenario, p.roles, err)
				return
			}
			fmt.Fprintf(os.Stderr, "[%s] CPU profile of hookstream %s: %s (go tool pprof -top %s)\n", scenario, p.roles, name, name)
		})
	}
	return wg.Wait
}

// Statement is one statement of pg_stat_statements: where Postgres spent
// its time during a scenario.
type Statement struct {
	Query   string  `json:"query"`
	Calls   int64   `json:"calls"`
	Rows    int64   `json:"rows"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
	WALMiB  float64 `json:"wal_mib"`
}

// resetStatements empties pg_stat_statements of database db (the
// scenario's: its migration does not count; other databases on the server,
// other runs', keep theirs), creating the extension in the admin database
// if the server preloads it. It reports whether the statistics are
// available.
func resetStatements(ctx context.Context, adminURL, db string) bool {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return false
	}
	_, err = conn.Exec(ctx, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = $1), 0)", db)
	return err == nil
}

// topStatements returns the n statements that took the most time in
// database db since the last reset.
func topStatements(ctx context.Context, adminURL, db string, n int) ([]Statement, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT regexp_replace(query, '\s+', ' ', 'g'), calls, rows, total_exec_time, mean_exec_time, wal_bytes::float8 / 1048576
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = $1 ORDER BY total_exec_time DESC LIMIT $2`, db, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Statement, error) {
		var s Statement
		err := r.Scan(&s.Query, &s.Calls, &s.Rows, &s.TotalMS, &s.MeanMS, &s.WALMiB)
		if len(s.Query) > 120 {
			s.Query = s.Query[:120] + "…"
		}
		return s, err
	})
}
