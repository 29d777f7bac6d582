package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookstream/hookstream/schema"
)

// dataError wraps err with schema.ErrInvalidData when Postgres refused the
// data itself: SQLSTATE class 22 (data exception: invalid text encoding, a
// NUL byte, a value out of range), 23 (integrity constraint violation) or
// 54 (program limit exceeded: too deep, too long). Connection failures,
// timeouts, serialization failures and the rest stay as they are: outages,
// to be waited out.
func dataError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return err
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return fmt.Errorf("%w: %w", schema.ErrInvalidData, err)
	}
	return err
}

// wrapErr names the operation in err, except for schema.ErrNotFound, which
// goes back as it is.
func wrapErr(op string, err error) error {
	if err == nil || errors.Is(err, schema.ErrNotFound) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
