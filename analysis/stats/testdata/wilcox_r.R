# Generates wilcox_r.txt, the oracle for TestMannWhitneyMatchesR:
#   Rscript wilcox_r.R > wilcox_r.txt
# Produced with R 4.2.2 (Debian r-base-core 4.2.2.20221110-2).
# Each case records R's wilcox.test(x, y, conf.int=TRUE, exact=FALSE,
# correct=TRUE, conf.level=conf) statistic W, p-value, estimate and interval.
emit <- function(name, x, y, conf) {
  r <- wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE, conf.level = conf)
  f <- function(v) paste(sprintf("%.17g", v), collapse = " ")
  cat("case", name, f(conf), "\n")
  cat("x", f(x), "\n")
  cat("y", f(y), "\n")
  cat("want", f(c(r$statistic, r$p.value, r$estimate, r$conf.int[1], r$conf.int[2])), "\n")
}
# Kayenta's published oracle (kayenta-mannwhitney MannWhitneySuite).
emit("kayenta", c(10, 20, 30, 40), c(1, 2, 3, 4), 0.95)
# Kayenta's tie-out data set (many ties), same suite.
emit("kayenta-ties",
  c(2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5, 2.0, 4.0, 3.0, 2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5, 2.5, 4.0, 2.5, 3.0, 2.5, 6.5, 2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5, 4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5, 3.0, 3.0, 7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0, 3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0),
  c(1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0, 2.5, 2.0, 2.0, 2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0, 5.5, 4.5, 4.0, 3.0, 3.0, 3.5, 2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0, 3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5, 2.0, 3.0, 2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5, 3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0),
  0.95)
set.seed(20240611)
emit("normal-30-30", rnorm(30, 10, 2), rnorm(30, 9, 2), 0.95)
emit("rounded-ties-50-40", round(rnorm(50), 1), round(rnorm(40, 0.3), 1), 0.98)
emit("unequal-7-100", rnorm(7, 1), rnorm(100), 0.95)
emit("small-3-5", c(1.1, 2.7, 3.3), c(0.2, 0.9, 1.7, 2.2, 5.1), 0.90)
emit("latency-seconds", rlnorm(200, log(0.05), 0.5), rlnorm(150, log(0.055), 0.5), 0.98)
emit("end-point", 1, 2:60, 0.95)
emit("overlap-99", rexp(80, 1), rexp(60, 1.3), 0.99)
emit("integers-80", sample(1:10, 40, replace = TRUE), sample(2:11, 30, replace = TRUE), 0.80)
emit("zeros", c(rep(0, 40), rexp(15, 0.5)), c(rep(0, 50), rexp(5, 0.5)), 0.95)
