"""Analysis of stored results: leaderboard entries, comparisons, density, Pareto and trends
(task scores with confidence intervals come from ``agimeter.scoring.aggregate``)."""
