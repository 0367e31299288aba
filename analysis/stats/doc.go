// Package stats is the numerical core behind ramp's judges, public so
// that their figures can be checked against other tools: the normal
// distribution, the Mann-Whitney U test with the Hodges–Lehmann estimate and
// its confidence interval, and the building blocks of anytime-valid
// sequential tests (mixture likelihood-ratio e-processes for Bernoulli
// counts, the Dirichlet-multinomial Bayes factor of Lindon & Malek, and the
// time-uniform Dvoretzky–Kiefer–Wolfowitz bound of Howard & Ramdas).
//
// Everything here is pure computation on numbers: no I/O, no clocks, no
// logging. Functions that take data validate it and return errors naming
// the argument and the offending value; they never panic on bad input.
//
// Each formula cites its source next to the code. Where a result is meant to
// agree with another implementation (R's wilcox.test, for instance) the
// documentation says exactly how far and where it deliberately differs.
// The examples carry published vectors: Kayenta's and R's for the
// Mann-Whitney test, R's for the normal distribution and the
// two-proportion sample size, Lindon & Malek's for the multinomial Bayes
// factor.
package stats
