//! Statistics, JSON report and HTML dashboard. Filled by the reporting work.
