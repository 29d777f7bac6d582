package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/postgres"
	"github.com/hookstream/hookstream/seal"
)

// testDB is a migrated database of its own with a raw connection beside it,
// to look at rows the way an operator (or an attacker with a dump) would.
type testDB struct {
	*postgres.DB
	raw *pgx.Conn
}

func openDB(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	url := testenv.DatabaseURL(t)
	box, err := seal.New(make([]byte, 32))
	testenv.Must(t, err, "seal.New")
	db, err := postgres.Open(context.Background(), url, box)
	testenv.Must(t, err, "postgres.Open")
	t.Cleanup(db.Close)
	return db, url
}

func newTestDB(t *testing.T) testDB {
	t.Helper()
	ctx := context.Background()
	db, url := openDB(t)
	_, err := db.Migrate(ctx)
	testenv.Must(t, err, "Migrate")
	raw, err := pgx.Connect(ctx, url)
	testenv.Must(t, err, "connect")
	t.Cleanup(func() { raw.Close(context.Background()) })
	return testDB{DB: db, raw: raw}
}

// count returns the result of a SELECT count(*) … query.
func (tdb testDB) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	testenv.Must(t, tdb.raw.QueryRow(context.Background(), query, args...).Scan(&n), query)
	return n
}

// exec runs a statement on the test's own connection, around the DB.
func (tdb testDB) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	_, err := tdb.raw.Exec(context.Background(), sql, args...)
	testenv.Must(t, err, sql)
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	first, err := db.Migrate(ctx)
	testenv.Must(t, err, "first Migrate")
	if len(first) == 0 {
		t.Fatal("first Migrate applied nothing on an empty database")
	}
	second, err := db.Migrate(ctx)
	testenv.Must(t, err, "second Migrate")
	if len(second) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", second)
	}
	testenv.Must(t, db.Ping(ctx), "Ping")
}

func TestMigrateConcurrentAppliesOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	const n = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[string]int{}
		errs    []error
	)
	for range n {
		wg.Go(func() {
			names, err := db.Migrate(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			for _, name := range names {
				applied[name]++
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent Migrate: %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("no migration applied")
	}
	for name, k := range applied {
		if k != 1 {
			t.Errorf("migration %s applied %d times, want once", name, k)
		}
	}
}
