/*-------------------------------------------------------------------------
 *
 * phone.cpp
 *	  The shim over Google's libphonenumber (C++) that src/normalize.c
 *	  calls: parse a number in a country's national or international form,
 *	  validate it by region and type, and format it as E.164.
 *
 * Numbering plans change every month; Debian ships them in
 * libphonenumber-dev, so we hand-write none.  Everything C++ stays in this
 * file: every entry point catches all exceptions and returns a plain
 * status, and nothing here calls palloc or ereport (a longjmp through C++
 * frames would skip their destructors).
 *
 *-------------------------------------------------------------------------
 */
#include <cstring>
#include <string>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include "phone.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

/* Why a parsable number is not valid, from its length for its region */
static CrmPhoneStatus
LengthStatus(const PhoneNumberUtil *util, const PhoneNumber &number)
{
	switch (util->IsPossibleNumberWithReason(number))
	{
		case PhoneNumberUtil::TOO_SHORT:
		case PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY:
			return CRM_PHONE_TOO_SHORT;
		case PhoneNumberUtil::TOO_LONG:
			return CRM_PHONE_TOO_LONG;
		case PhoneNumberUtil::INVALID_LENGTH:
			return CRM_PHONE_INVALID_LENGTH;
		case PhoneNumberUtil::INVALID_COUNTRY_CODE:
			return CRM_PHONE_BAD_CALLING_CODE;
		default:
			return CRM_PHONE_INVALID;
	}
}

static CrmPhoneStatus
Parse(const char *raw, const char *country, char *e164, int *calling_code)
{
	const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
	PhoneNumber number;
	std::string out;
	/* "ZZ", the unknown region, accepts the international form only */
	std::string where = country ? country : "ZZ";

	if (country && util->GetCountryCodeForRegion(where) == 0)
		return CRM_PHONE_BAD_COUNTRY;
	*calling_code = country ? util->GetCountryCodeForRegion(where) : 0;
	switch (util->Parse(raw, where, &number))
	{
		case PhoneNumberUtil::NO_PARSING_ERROR:
			break;
		case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
			return (raw[strspn(raw, " ")] == '+') ? CRM_PHONE_BAD_CALLING_CODE : CRM_PHONE_NO_COUNTRY;
		case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
		case PhoneNumberUtil::TOO_SHORT_NSN:
			return CRM_PHONE_TOO_SHORT;
		case PhoneNumberUtil::TOO_LONG_NSN:
			return CRM_PHONE_TOO_LONG;
		default:
			return CRM_PHONE_NOT_A_NUMBER;
	}
	*calling_code = number.country_code();
	if (!util->IsValidNumber(number))
		return LengthStatus(util, number);
	util->Format(number, PhoneNumberUtil::E164, &out);
	if (out.size() >= CRM_PHONE_E164_SIZE)
		return CRM_PHONE_TOO_LONG;
	memcpy(e164, out.c_str(), out.size() + 1);
	return CRM_PHONE_OK;
}

extern "C" CrmPhoneStatus
CrmPhoneParse(const char *raw, const char *country, char e164[CRM_PHONE_E164_SIZE], int *calling_code)
{
	*calling_code = 0;
	try
	{
		return Parse(raw, country, e164, calling_code);
	}
	catch (...)
	{
		return CRM_PHONE_INTERNAL;
	}
}

extern "C" int
CrmPhoneCountryKnown(const char *country)
{
	try
	{
		return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(country) != 0;
	}
	catch (...)
	{
		return 0;
	}
}
