//! Hosts shaped like real IM installs (issue 22): the records real installs write — IM listed as
//! a package of its own, several PORTAL offerings in one group, WAS editions, nested interim
//! fixes, `wps.properties` as Portal writes it — and the layouts real hosts have — IM inside a
//! product directory, symlinked product paths, homes outside `/home`, IM-only hosts, records
//! copied from Windows. Each test builds a host in that shape and asserts what an administrator
//! would see from `discover`, `doctor`, `status`, `backup` and `restore`.

mod layouts;
mod records;
mod versions;
