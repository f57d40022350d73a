pub mod defrag;
