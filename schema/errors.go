package schema

import "errors"

// ErrInvalidData is wrapped by a store's errors that blame the data, not the
// store: a value it cannot hold (a NUL in text, bytes that are not UTF-8, a
// number out of range, JSON nested too deep) or a constraint it breaks.
// Retrying the same data never helps, unlike an outage.
var ErrInvalidData = errors.New("data refused by the store")
