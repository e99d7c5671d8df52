#!/usr/bin/perl
# The documentation's examples as a test (docs/development.md, "Examples in
# the docs").  For one Markdown file: every ```sql block is run in order, in
# one psql session on the database named by PGDATABASE (fresh, with crm
# installed: test/t/doctest.sh makes it), and its output is compared with
# the ```output block right after it.  A ```sql block without one must run
# without an error; ```sql norun is not run.
#
#   perl test/doctest.pl FILE            prints "ok" or the differences, exits 1 on any
#   perl test/doctest.pl --accept FILE   writes the actual output into FILE's output blocks
#
# The psql command is $PSQL (default psql); the output is what `psql -X -q`
# prints (aligned, without the "(N rows)" footer), errors included, with
# trailing spaces and leading or trailing blank lines left out.
use strict;
use warnings;

my $accept = 0;
if (@ARGV && $ARGV[0] eq '--accept') { $accept = 1; shift @ARGV; }
my $file = shift @ARGV or die "usage: doctest.pl [--accept] FILE\n";
open(my $fh, '<', $file) or die "$file: $!\n";
my @lines = <$fh>;
close $fh;

# the blocks: { kind => sql|output|other, info, indent, from, to (fence lines), body }
my @blocks;
for (my $i = 0; $i < @lines; $i++) {
	next unless $lines[$i] =~ /^(\s*)```(.*?)\s*$/;
	my ($indent, $info) = ($1, $2);
	my $j = $i + 1;
	$j++ while $j < @lines && $lines[$j] !~ /^\s*```\s*$/;
	die "$file:" . ($i + 1) . ": the block is not closed\n" if $j >= @lines;
	my @body = map { my $l = $_; $l =~ s/^\Q$indent\E//; $l } @lines[$i + 1 .. $j - 1];
	my $kind = $info eq 'sql' ? 'sql' : $info eq 'output' ? 'output' : 'other';
	push @blocks, { kind => $kind, info => $info, indent => $indent, from => $i, to => $j, body => join('', @body) };
	$i = $j;
}

# pair each output block with the sql block right before it (blank lines between only)
my @runs;
for my $k (0 .. $#blocks) {
	my $b = $blocks[$k];
	push @runs, $b if $b->{kind} eq 'sql';
	next unless $b->{kind} eq 'output';
	my $prev = $k > 0 ? $blocks[$k - 1] : undef;
	die "$file:" . ($b->{from} + 1) . ": an output block must follow a ```sql block\n"
		unless $prev && $prev->{info} =~ /^sql\b/
		&& !grep { /\S/ } @lines[$prev->{to} + 1 .. $b->{from} - 1];
	# the output of a norun block is shown, not compared
	$prev->{output} = $b if $prev->{kind} eq 'sql';
}
if (!@runs) { print "ok (no sql block)\n"; exit 0; }

my $script = "\\set VERBOSITY default\n\\set SHOW_CONTEXT never\n\\pset footer off\n";
for my $k (0 .. $#runs) {
	$script .= "\\echo '<<<doctest $k>>>'\n$runs[$k]{body}";
	$script .= "\n" unless $script =~ /\n$/;
	$script .= ";\n";	# a statement left unterminated fails in its own block
}
$script .= "\\echo '<<<doctest end>>>'\n";

my $tmp = "/tmp/crm_doctest.$$.sql";
open(my $sh, '>', $tmp) or die "$tmp: $!\n";
print $sh $script;
close $sh;
my $psql = $ENV{PSQL} || 'psql';
my $out = `$psql -X -q -v ON_ERROR_STOP=0 <"$tmp" 2>&1`;
unlink $tmp;

my %actual;
my $cur;
my $ended = 0;
for my $l (split /\n/, $out) {
	if ($l =~ /^<<<doctest (\d+|end)>>>$/) { $cur = $1; $ended = 1 if $1 eq 'end'; next; }
	$actual{defined $cur ? $cur : 'setup'} .= "$l\n";
}
die "$file: the session ended early:\n$out" unless $ended;

sub norm {
	my @l = map { s/\s+$//r } split /\n/, ($_[0] // '');
	shift @l while @l && $l[0] eq '';
	pop @l while @l && $l[-1] eq '';
	return join("\n", @l);
}

my $failed = 0;
my @report;
for my $k (0 .. $#runs) {
	my $r = $runs[$k];
	my $got = norm($actual{$k});
	my $where = "$file:" . ($r->{from} + 1);
	if ($r->{output}) {
		my $want = norm($r->{output}{body});
		next if $got eq $want;
		$failed++;
		if ($accept) { $r->{output}{new} = $got; next; }
		push @report, "$where: the output differs\n" . udiff($want, $got);
	} elsif ($got =~ /^(ERROR|FATAL|PANIC):|^psql: |^invalid command|^unterminated /m) {
		$failed++;
		push @report, "$where: the example fails (mark it ```sql norun if it is not meant to run)\n"
			. join('', map { "  $_\n" } split /\n/, $got);
	}
}
my $setup = norm($actual{setup});
if ($setup ne '') { $failed++; push @report, "$file: the session's setup printed:\n$setup\n"; }

if ($accept) {
	for my $b (reverse grep { exists $_->{new} } @blocks) {
		my @new = map { $_ eq '' ? "\n" : "$b->{indent}$_\n" } split /\n/, $b->{new};
		splice @lines, $b->{from} + 1, $b->{to} - $b->{from} - 1, @new;
	}
	open(my $wh, '>', $file) or die "$file: $!\n";
	print $wh @lines;
	close $wh;
	print join("\n", @report), "\n" if @report;
	exit 0;
}
if ($failed) { print join("\n", @report); exit 1; }
print "ok (" . scalar(@runs) . " sql blocks, " . scalar(grep { $_->{output} } @runs) . " with output)\n";
exit 0;

# a line diff: - documented, + actual
sub udiff {
	my ($a, $b) = @_;
	my @a = split /\n/, $a;
	my @b = split /\n/, $b;
	my ($i, $j, $s) = (0, 0, '');
	# longest common subsequence, small inputs
	my @L;
	for (my $x = $#a; $x >= 0; $x--) {
		for (my $y = $#b; $y >= 0; $y--) {
			$L[$x][$y] = $a[$x] eq $b[$y] ? 1 + ($L[$x + 1][$y + 1] // 0)
				: (($L[$x + 1][$y] // 0) > ($L[$x][$y + 1] // 0) ? $L[$x + 1][$y] // 0 : $L[$x][$y + 1] // 0);
		}
	}
	while ($i < @a || $j < @b) {
		if ($i < @a && $j < @b && $a[$i] eq $b[$j]) { $s .= "   $a[$i]\n"; $i++; $j++; }
		elsif ($j < @b && ($i >= @a || ($L[$i][$j + 1] // 0) >= ($L[$i + 1][$j] // 0))) { $s .= " + $b[$j]\n"; $j++; }
		else { $s .= " - $a[$i]\n"; $i++; }
	}
	return $s;
}
