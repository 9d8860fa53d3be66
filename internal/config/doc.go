// Package config owns the watchdog's configuration: it reads every
// environment variable the product contract lists, converts and validates
// each value, and returns a Config or an *Errors that reports every problem
// at once, one line each, naming the variable and never the value of a
// secret.
package config
