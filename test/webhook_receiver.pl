#!/usr/bin/perl
# A local HTTP receiver for test/t/webhook.sh: accepts POSTs on 127.0.0.1
# (a port the kernel picks, written to PORTFILE), checks each request's
# X-CRM-Signature (HMAC-SHA256 of "<X-CRM-Timestamp>.<body>" with SECRET),
# answers every FAIL_EVERY-th request 503 and the others 200, and logs one
# tab-separated line per request to LOGFILE: n, delivery id, object type,
# object id, event id, action, signature valid (1/0), status.  DELAY_MS
# (default 0) slows each answer, as a remote service would be.
# Usage: webhook_receiver.pl PORTFILE LOGFILE SECRET FAIL_EVERY [DELAY_MS]
use strict;
use warnings;
use IO::Handle;
use IO::Socket::INET;
use Digest::SHA qw(hmac_sha256_hex);

my ($portfile, $logfile, $secret, $fail_every, $delay_ms) = @ARGV;
$delay_ms //= 0;
my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 64,
								   ReuseAddr => 1, Proto => 'tcp')
	or die "cannot listen: $!";
open(my $pf, '>', "$portfile.tmp") or die;
print $pf $server->sockport, "\n";
close $pf;
rename "$portfile.tmp", $portfile or die;
open(my $log, '>>', $logfile) or die;
$log->autoflush(1);

my $n = 0;
while (my $c = $server->accept) {
	local $/ = "\r\n";
	my $request = <$c>;
	next unless defined $request;
	my %h;
	while (my $line = <$c>) {
		$line =~ s/\r\n$//;
		last if $line eq '';
		my ($k, $v) = split /:\s*/, $line, 2;
		$h{lc $k} = $v;
	}
	print $c "HTTP/1.1 100 Continue\r\n\r\n" if lc($h{expect} // '') eq '100-continue';
	my $len = $h{'content-length'} // 0;
	my $body = '';
	while (length($body) < $len) {
		my $got = read($c, $body, $len - length($body), length($body));
		last unless $got;
	}
	$n++;
	my $want = 'sha256=' . hmac_sha256_hex(($h{'x-crm-timestamp'} // '') . '.' . $body, $secret);
	my $valid = ($h{'x-crm-signature'} // '') eq $want ? 1 : 0;
	my $status = ($fail_every > 0 && $n % $fail_every == 0) ? 503 : 200;
	my ($oid) = $body =~ /"object_id": (\d+)/;
	my ($eid) = $body =~ /"event_id": (\d+)/;
	my ($type) = $body =~ /"object_type": "([^"]*)"/;
	my ($action) = $body =~ /"action": "([^"]*)"/;
	print $log join("\t", $n, $h{'x-crm-delivery'} // '', $type // '', $oid // '', $eid // '',
					$action // '', $valid, $status), "\n";
	select(undef, undef, undef, $delay_ms / 1000) if $delay_ms > 0;
	my $answer = $status == 200 ? '{"ok": true}' : '{"error": "try later"}';
	print $c "HTTP/1.1 $status " . ($status == 200 ? 'OK' : 'Service Unavailable') . "\r\n"
		. "Content-Type: application/json\r\nContent-Length: " . length($answer) . "\r\n"
		. "Connection: close\r\n\r\n$answer";
	close $c;
}
