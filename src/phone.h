/*-------------------------------------------------------------------------
 *
 * phone.h
 *	  The C face of src/phone.cpp, the shim over Google's libphonenumber.
 *
 * Plain C types only: no C++ exception or allocation crosses it, and the
 * shim never calls into PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PHONE_H
#define CRM_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C"
{
#endif

typedef enum CrmPhoneStatus
{
	CRM_PHONE_OK,				/* valid: e164 and region are filled */
	CRM_PHONE_NO_COUNTRY,		/* national form and no country to read it in */
	CRM_PHONE_BAD_COUNTRY,		/* the country given is not one libphonenumber knows */
	CRM_PHONE_BAD_CALLING_CODE, /* +CC names no country */
	CRM_PHONE_NOT_A_NUMBER,
	CRM_PHONE_TOO_SHORT,
	CRM_PHONE_TOO_LONG,
	CRM_PHONE_INVALID_LENGTH,	/* between the region's lengths, none of them */
	CRM_PHONE_INVALID,			/* a possible length, but no number type of the region fits */
	CRM_PHONE_INTERNAL			/* the library threw */
} CrmPhoneStatus;

/* The longest E.164 text ("+" and 15 digits) and its terminator */
#define CRM_PHONE_E164_SIZE 17

/*
 * Parse raw (UTF-8) as a number of country (ISO 3166 alpha-2, upper case, or
 * NULL for international form only) and validate it by region and type.
 * On CRM_PHONE_OK writes the E.164 form to e164; whenever the text parsed,
 * sets *calling_code to the number's country calling code (else 0).
 */
extern CrmPhoneStatus CrmPhoneParse(const char *raw, const char *country,
									char e164[CRM_PHONE_E164_SIZE], int *calling_code);

/* Whether libphonenumber has a numbering plan for this alpha-2 code */
extern int	CrmPhoneCountryKnown(const char *country);

#ifdef __cplusplus
}
#endif

#endif							/* CRM_PHONE_H */
