/* Unit tests of the text conversions in src/textconv.c against the rules of
 * RESOLVER_SPEC.md 3.7 and 3.9: Rust f64 Display and FromStr, chrono's
 * RFC 3339 and naive timestamp parsers, epoch numbers and version tuples.
 * Expected values come from the spec text and from independent sources
 * (Rust std for number formatting, Python's datetime for epoch seconds). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "textconv.h"

/* ---- cf_fmt_f64 ------------------------------------------------------- */

static void fmt_is(double x, const char *want)
{
  char buf[CF_NUMBUF];
  size_t n = cf_fmt_f64(x, buf);
  CHECK_STR(buf, want);
  CHECK(n == strlen(want));
}

/* "0." followed by `zeros` zeros and then `digits`. */
static void fmt_small_is(double x, int zeros, const char *digits)
{
  char want[CF_NUMBUF];
  size_t o = 0;
  want[o++] = '0';
  want[o++] = '.';
  for (int i = 0; i < zeros; i++)
    want[o++] = '0';
  strcpy(want + o, digits);
  fmt_is(x, want);
}

static void test_fmt_f64(void)
{
  /* Spec 3.7 fmt_shortest examples. */
  fmt_is(123.0, "123");
  fmt_is(123.4, "123.4");
  fmt_is(1e21, "1000000000000000000000");
  fmt_is(1e-7, "0.0000001");
  fmt_is(-0.0, "-0");
  fmt_is(0.0, "0");
  fmt_is(NAN, "NaN");
  fmt_is(INFINITY, "inf");
  fmt_is(-INFINITY, "-inf");
  /* Shortest round-trip digits, never an exponent. */
  fmt_is(0.1, "0.1");
  fmt_is(0.30000000000000004, "0.30000000000000004");
  fmt_is(-1.5, "-1.5");
  fmt_is(100.0, "100");
  fmt_is(0.5, "0.5");
  fmt_is(1e15, "1000000000000000");
  fmt_is(1e16, "10000000000000000");
  fmt_is(1e23, "100000000000000000000000");
  fmt_is(9007199254740992.0, "9007199254740992");
  fmt_is(1.2345678901234568e20, "123456789012345680000");
  fmt_is(42.0, "42");
  fmt_is(-42.25, "-42.25");
  fmt_small_is(5e-324, 323, "5");
  fmt_small_is(1e-300, 299, "1");
  {
    char buf[CF_NUMBUF];
    size_t n = cf_fmt_f64(1.7976931348623157e308, buf);
    CHECK(n == 309);
    CHECK(strncmp(buf, "17976931348623157", 17) == 0);
    size_t zeros = strspn(buf + 17, "0");
    CHECK(zeros == 309 - 17);
    n = cf_fmt_f64(-1.7976931348623157e308, buf);
    CHECK(n == 310 && buf[0] == '-');
  }
  /* Powers of two where the lower neighbour is closer than the upper one:
   * the shortest string lies above the value and has 16 digits, while the
   * correctly rounded 16-digit string does not round-trip (Rust prints
   * these; a "%.{p}e until it round-trips" loop prints 17 digits). */
  fmt_is(0x1p-24, "0.00000005960464477539063");
  fmt_is(0x1p89, "618970019642690200000000000");
  fmt_small_is(0x1p-44, 13, "5684341886080802");
  /* Whatever is printed must parse back to the same double. */
  static const double round_trip[] = {0.1,      1.0 / 3.0, 2.0 / 3.0, 1e-5,   123456.789, 4.35,
                                      0.000123, 1e-10,     6.02e23,   1e300,  2.5e-308,   0x1p-1022,
                                      0x1p-1074, 3.14159265358979, 0x1.fffffffffffffp+1023};
  for (size_t i = 0; i < sizeof round_trip / sizeof round_trip[0]; i++) {
    char buf[CF_NUMBUF];
    size_t n = cf_fmt_f64(round_trip[i], buf);
    double back = 0;
    CHECK(cf_parse_f64(buf, n, &back) && back == round_trip[i]);
    CHECK(strchr(buf, 'e') == NULL && strchr(buf, 'E') == NULL);
  }
}

/* Rust's shortest digits for these doubles, as printed by `format!("{:e}", x)`
 * (rustc 1.9x std, the reference's formatter): every power of two where the
 * correctly rounded 16-digit form does not round-trip, random bit patterns,
 * random moderate magnitudes, some classics, and exact ties at 17 digits
 * (which Rust rounds up). Display prints the same digits positionally. */
static const struct {
  uint64_t bits;
  const char *rust_e;
} RUST_SHORTEST[] = {
    {0x0060000000000000ULL, "7.120236347223045e-307"},
    {0x0100000000000000ULL, "7.291122019556398e-304"},
    {0x0420000000000000ULL, "8.209073602596753e-289"},
    {0x0660000000000000ULL, "5.641232424577593e-278"},
    {0x0d70000000000000ULL, "5.858190679279809e-244"},
    {0x0e80000000000000ULL, "7.678447687145631e-239"},
    {0x0eb0000000000000ULL, "6.142758149716505e-238"},
    {0x0f50000000000000ULL, "6.290184345309701e-235"},
    {0x13e0000000000000ULL, "5.940911144672375e-213"},
    {0x1480000000000000ULL, "6.083493012144512e-210"},
    {0x1690000000000000ULL, "5.225680706521042e-200"},
    {0x1730000000000000ULL, "5.351097043477547e-197"},
    {0x1da0000000000000ULL, "5.426657103235053e-166"},
    {0x2020000000000000ULL, "5.966672584960166e-154"},
    {0x20f0000000000000ULL, "4.887898181599368e-150"},
    {0x2160000000000000ULL, "6.256509672447191e-148"},
    {0x2800000000000000ULL, "5.075883674631299e-116"},
    {0x2910000000000000ULL, "6.653062250012736e-111"},
    {0x2d70000000000000ULL, "7.854549544476363e-90"},
    {0x3730000000000000ULL, "7.174648137343064e-43"},
    {0x39e0000000000000ULL, "6.310887241768095e-30"},
    {0x3b20000000000000ULL, "6.617444900424222e-24"},
    {0x3d30000000000000ULL, "5.684341886080802e-14"},
    {0x3e60000000000000ULL, "2.9802322387695313e-8"},
    {0x3e70000000000000ULL, "5.960464477539063e-8"},
    {0x4580000000000000ULL, "6.189700196426902e26"},
    {0x4790000000000000ULL, "5.316911983139664e36"},
    {0x4830000000000000ULL, "5.444517870735016e39"},
    {0x4ab0000000000000ULL, "5.986310706507379e51"},
    {0x4b50000000000000ULL, "6.129982163463556e54"},
    {0x5120000000000000ULL, "6.070840288205404e82"},
    {0x5300000000000000ULL, "6.518515124270356e91"},
    {0x5580000000000000ULL, "7.167183174968974e103"},
    {0x5790000000000000ULL, "6.156563468186638e113"},
    {0x58d0000000000000ULL, "6.455624695217272e119"},
    {0x5940000000000000ULL, "8.263199609878108e121"},
    {0x5e00000000000000ULL, "6.243497100631985e144"},
    {0x6150000000000000ULL, "5.623642243178996e160"},
    {0x61f0000000000000ULL, "5.758609657015292e163"},
    {0x6290000000000000ULL, "5.896816288783659e166"},
    {0x63d0000000000000ULL, "6.183260036827614e172"},
    {0x6510000000000000ULL, "6.483618076376552e178"},
    {0x6c50000000000000ULL, "5.386379163185535e213"},
    {0x7220000000000000ULL, "5.334411546303884e241"},
    {0x75e0000000000000ULL, "6.150157786156811e259"},
    {0x77f0000000000000ULL, "5.282945311356653e269"},
    {0x7cf0000000000000ULL, "6.386688990511104e293"},
    {0x856d9c28a9741a02ULL, "-1.5929876941125242e-282"},
    {0x86ad14d4430c32b6ULL, "-1.6405473275589804e-276"},
    {0xc366ae2c20764753ULL, "-5.107163227240719e16"},
    {0xce6336ec93771f1dULL, "-4.144185377299814e69"},
    {0x1a79312058b39663ULL, "3.7944037382334947e-181"},
    {0x3ca10c145535098fULL, "1.1828860984139914e-16"},
    {0x9e66e2665154e05cULL, "-3.1791526229035617e-162"},
    {0xba96d597e9fdde9cULL, "-1.8445440449054997e-26"},
    {0xa11665ed06c80221ULL, "-2.736996670446168e-149"},
    {0x480c4fbc1a4b3a65ULL, "1.2042364963206905e39"},
    {0xb6a11497bd5f9551ULL, "-1.4959246783136952e-45"},
    {0x9cefea2e8b1c5e3bULL, "-2.6426777335906278e-169"},
    {0xbf1e5a8e8a548847ULL, "-1.1579031941669301e-4"},
    {0x5d0032063244d097ULL, "9.643171019927638e139"},
    {0xb0ba1fab0cea9cf6ULL, "-5.775582952072924e-74"},
    {0x333d875f5b54b44fULL, "7.178053356905116e-62"},
    {0x030a8c607b88eee7ULL, "5.196031004180577e-294"},
    {0x4e0d0726096ca6faULL, "9.782391085335083e67"},
    {0xc43b009688e68137ULL, "-4.981044617602562e20"},
    {0xa1331aca8f9be1f5ULL, "-9.33816002969615e-149"},
    {0xfcb19f2b96ae0b76ULL, "-4.396277081998856e292"},
    {0x468112fb3eaf4ae0ULL, "4.328810333824956e31"},
    {0xf79edd7dd2b6ac75ULL, "-1.592374704516376e268"},
    {0x27a3a789a9ec7c6dULL, "9.742546203175144e-118"},
    {0x3cd6abcb71871fd5ULL, "1.2584973647070472e-15"},
    {0xdc9c50c2ec0d44aaULL, "-1.317170124785081e138"},
    {0x5c9a817bab5734a3ULL, "1.2329879669807708e138"},
    {0x335e4148cb4cd20aULL, "2.941834891026505e-61"},
    {0x97a391ce01f3892eULL, "-8.377484753440089e-195"},
    {0x2ef6453c5b4fe5bcULL, "1.8342149655325836e-82"},
    {0x3c0f74a626599577ULL, "2.1315184483998996e-19"},
    {0xdd251ab0f9e49b9dULL, "-5.026413135041033e140"},
    {0xb9810703599615eaULL, "-1.0493942287224262e-31"},
    {0xc5805ed3fe9f0341ULL, "-6.333000375555312e26"},
    {0xe542a8d784c4cd07ULL, "-6.049066073045485e179"},
    {0x60c7ee4249e4e55dULL, "1.6427940639416234e158"},
    {0xec55e9fb9f4bdbd7ULL, "-7.377318114076573e213"},
    {0xcf85ccd472b959a0ULL, "-1.2325591105803085e75"},
    {0x8effc27ad9184313ULL, "-1.9509207622616078e-236"},
    {0x868b3ddacc72d755ULL, "-3.841907730192318e-277"},
    {0xe9ca7bf6b0c347bbULL, "-4.0544739620152955e201"},
    {0x2e93cfbd9a6c4ff4ULL, "2.5495192393244607e-84"},
    {0x3fd953622763ea6bULL, "3.9571431967457354e-1"},
    {0xeedcf094e864d77fULL, "-1.0712032283276394e226"},
    {0x92a9759f004c2111ULL, "-9.015344041299287e-219"},
    {0xfc19f2701340dd13ULL, "-6.321547080235151e289"},
    {0x7c232e1ec8217869ULL, "9.345832731394466e289"},
    {0x743a9330d35000d9ULL, "7.610778339624225e251"},
    {0x4680fd930bddb698ULL, "4.307609842702183e31"},
    {0xaa2221383b9eabf5ULL, "-9.881063459885068e-106"},
    {0xb7d7de7ceef9cbe2ULL, "-1.0960150375393623e-39"},
    {0xaac9537191c080f5ULL, "-1.4134396212508108e-102"},
    {0xdeb00a302bb59cb4ULL, "-1.281848695750976e148"},
    {0x18f9c97ea0095a8dULL, "2.3150748234059944e-188"},
    {0x431f59d9e2be4b78ULL, "2.206129156231902e15"},
    {0xf3fe4248e45ae9eeULL, "-5.416140240094815e250"},
    {0x5b3c4c55f16fe7bdULL, "3.1384609518463635e131"},
    {0xec2a649a13e77732ULL, "-1.1106451265293105e213"},
    {0x08ae355d5a43355cULL, "7.3191791725750744e-267"},
    {0xe5cbb80bdefd6436ULL, "-2.3004027261897978e182"},
    {0x3f48e36d7c63537eULL, "7.595333670687846e-4"},
    {0x2f92ae39c0908a58ULL, "1.5754740258424587e-79"},
    {0x00ae31f7fce03d4cULL, "2.1499689108293193e-305"},
    {0x18f3b68970d32e36ULL, "1.7697674734280497e-188"},
    {0xd5babbddb8ebc5eaULL, "-9.580320700115484e104"},
    {0x9e760d75101428e1ULL, "-6.127192166205854e-162"},
    {0x6335ea6d4bc218f0ULL, "8.270914237619594e169"},
    {0xb8e2f608634fa0c1ULL, "-1.1411776188788773e-34"},
    {0x9cc515670bf92fc0ULL, "-4.3645281730853326e-170"},
    {0x71f51b4a45632d9fULL, "8.796195437903241e240"},
    {0x05bab26334996c04ULL, "4.5960388764831595e-281"},
    {0x21e2cb0e4693dfdcULL, "1.8812760578021464e-145"},
    {0x73c50ffe9bd48f63ULL, "4.712549264039513e249"},
    {0x81e4ad643f569ebdULL, "-1.5437905596270927e-299"},
    {0x61d7586b88d83cc0ULL, "2.1005780184121396e163"},
    {0xb18b419f172cbcb9ULL, "-4.9364922313210343e-70"},
    {0x7c733949a2baeb80ULL, "2.997468336596706e291"},
    {0x69653d6e3e9b7e57ULL, "5.080669065272086e199"},
    {0x19c53cae51253d6bULL, "1.561875982645272e-184"},
    {0x11e391ad78c74dd1ULL, "1.69177665320213e-222"},
    {0x46806677d44b970aULL, "4.157961395003598e31"},
    {0x4954b6085eaf82a4ULL, "1.8474887525114458e45"},
    {0xf366bdebfce4f4a1ULL, "-7.950470916835903e247"},
    {0xcf756c9be6a43508ULL, "-6.056540807505736e74"},
    {0xdafc21e580013f62ULL, "-1.9500468869753891e130"},
    {0x1a1909b47c6177d7ULL, "5.892515359548566e-183"},
    {0x89319d4963cea0f8ULL, "-2.1851019115986507e-264"},
    {0xbb482d2ed1cc03b9ULL, "-3.999665697747318e-23"},
    {0xe662d2c9d4e455feULL, "-1.599651000683357e185"},
    {0x8248764bb14d22d5ULL, "-1.1688745441994786e-297"},
    {0x895da0198a9dadd0ULL, "-1.4700356918666705e-263"},
    {0x65f57adb6e4fe28bULL, "1.426099585199162e183"},
    {0x5d422549c826bf8eULL, "1.728704182667527e141"},
    {0x8d33c1a4270ad171ULL, "-4.52096964393101e-245"},
    {0x6372a47286f8b893ULL, "1.1256898160235222e171"},
    {0x2d1a98d6d08d0d22ULL, "2.040113991025193e-91"},
    {0xfa79bdd4c0bb1fb8ULL, "-9.345236033361119e281"},
    {0x8b48eb9d2b048787ULL, "-2.655511004472011e-254"},
    {0xe7d7b9675e138f48ULL, "-1.6912563531270714e192"},
    {0x58da6f4a91097a56ULL, "1.0665794110943098e120"},
    {0xa33b896f137b3d22ULL, "-5.780911072791409e-139"},
    {0x5c1eafbbf386c3d8ULL, "5.576027161318108e135"},
    {0x8c2b793ccd14385fULL, "-4.7965494907227574e-250"},
    {0x10741448b955e7efULL, "2.0693334040228794e-229"},
    {0x61117a226e6357e0ULL, "3.839253503168398e159"},
    {0x75ca2cad0a08694fULL, "2.5152718670709277e259"},
    {0x55d08ca84b95ca5dULL, "2.372257785883396e105"},
    {0x596f80a6ea29d689ULL, "6.507795834705333e122"},
    {0xfe9985ea19910764ULL, "-6.837056225190214e301"},
    {0xd1139d4b71db7c6aULL, "-3.721127710033685e82"},
    {0xaed27a43de4e9012ULL, "-3.8045800112072085e-83"},
    {0x8b4b05218b3049b2ULL, "-2.879252216408769e-254"},
    {0x3e66f02b064005a1ULL, "4.272564593788951e-8"},
    {0x4e26d6315b2dcdeaULL, "3.0783798052204655e68"},
    {0xec95aa0512b7acf1ULL, "-1.1669127179737443e215"},
    {0x1de0238cff37dfe8ULL, "8.758011456920039e-165"},
    {0x27873e94446d4a57ULL, "2.880520597371676e-118"},
    {0xfb3ea08e14fbe503ULL, "-4.5543116672988235e285"},
    {0x56dba9c32e993209ULL, "2.598721973037349e110"},
    {0x34b45a1b6c93a22dULL, "8.300179517765788e-55"},
    {0x4014cc2956b5ae29ULL, "5.199376444662939e0"},
    {0x3fdc5c5ec2dc6f35ULL, "4.431378271999507e-1"},
    {0x3ec5004430f2baabULL, "2.5035191196434484e-6"},
    {0x3e275b87f954951eULL, "2.719175949200683e-9"},
    {0x3e9a89a54648bbb4ULL, "3.9544221966646564e-7"},
    {0x3e5a4e16061a47c3ULL, "2.4498462264524873e-8"},
    {0x3f24d7372367e38cULL, "1.5900180888175593e-4"},
    {0x3f5f866df63e4f4bULL, "1.9241403433385036e-3"},
    {0x3edc6b8a69828115ULL, "6.77587527078717e-6"},
    {0x3e5147518f7d6157ULL, "1.6091939308280708e-8"},
    {0x3e8d1e7103bb2e55ULL, "2.1695280049413045e-7"},
    {0x41838d00b02f6d49ULL, "4.100098202315766e7"},
    {0x41521249d49b41d3ULL, "4.737319321976143e6"},
    {0x3facad3bcef86390ULL, "5.600916768543762e-2"},
    {0x40433553e5a17757ULL, "3.841662283310023e1"},
    {0x3eb272ce042f0079ULL, "1.099613670105274e-6"},
    {0x401622ffb39a6039ULL, "5.534178549096446e0"},
    {0x3efeabe113107ab9ULL, "2.9250529397834987e-5"},
    {0x3f4a986fb267d40cULL, "8.116288561824682e-4"},
    {0x41679c103f3f98a4ULL, "1.2378241976513214e7"},
    {0x3f7d77a6be994e95ULL, "7.194186540420274e-3"},
    {0x3ee46bff8ef57948ULL, "9.73790562735763e-6"},
    {0x40c20a2ae0ebc1baULL, "9.236334989041894e3"},
    {0x3e15d741869f38b9ULL, "1.2713044180641372e-9"},
    {0x3f9636cb545b0888ULL, "2.16933984982082e-2"},
    {0x419308b98c129c99ULL, "7.98347230181755e7"},
    {0x40b1c134d7febfe0ULL, "4.545206420823903e3"},
    {0x41bd7979e33cba9fULL, "4.945003232372226e8"},
    {0x4102d09b40d3842aULL, "1.5413140665343526e5"},
    {0x417b1f9ce17269a2ULL, "2.844103809043277e7"},
    {0x3f82208882fca5f1ULL, "8.851114747431917e-3"},
    {0x3e5c066ab99a00faULL, "2.6100376615632992e-8"},
    {0x3effc717de804a7bULL, "3.030558391976322e-5"},
    {0x40e7167f303eb42fULL, "4.728397463927452e4"},
    {0x3ee0ef7452782287ULL, "8.075413076917267e-6"},
    {0x416ad8f806809302ULL, "1.4075840203195099e7"},
    {0x3fb35a0a618112a4ULL, "7.559265976403623e-2"},
    {0x41103cb244503981ULL, "2.6602856671228266e5"},
    {0x3eccbf1d8082d9b2ULL, "3.426855077116885e-6"},
    {0x3f8fb1142101f081ULL, "1.5474469430266648e-2"},
    {0x415f6101916ff320ULL, "8.225798272457868e6"},
    {0x3f436221fe59e4c6ULL, "5.91532324235499e-4"},
    {0x40839dd85a5aa68fULL, "6.277306410867767e2"},
    {0x3e49d69288925002ULL, "1.2031837098068025e-8"},
    {0x4063d6a1ab533422ULL, "1.5870723501444542e2"},
    {0x40de5895efd8dacaULL, "3.107434276410452e4"},
    {0x3f318e751a9699ffULL, "2.678905389878194e-4"},
    {0x40427f09d0222b0cULL, "3.699248696964614e1"},
    {0x3eb87f55d6dd2c5aULL, "1.4601590367531898e-6"},
    {0x417f1f64eeb4c082ULL, "3.2634446919128902e7"},
    {0x3f9ca124814fc983ULL, "2.795846022849836e-2"},
    {0x3f392471cf2f56d0ULL, "3.836419920707325e-4"},
    {0x3ef848d27544bc7dULL, "2.3159467063379742e-5"},
    {0x41624c6b03848a45ULL, "9.593688109929213e6"},
    {0x401dd990c1cbb211ULL, "7.462466266687003e0"},
    {0x4111f7e7e68c8135ULL, "2.9439397514535795e5"},
    {0x3f60c5aef0a97577ULL, "2.0473877714681193e-3"},
    {0x3eb602fb9d019a5dULL, "1.31199668731434e-6"},
    {0x406631944544ae29ULL, "1.7754934943594097e2"},
    {0x3ff6220fb34a8d35ULL, "1.383315754276578e0"},
    {0x417ec59dc5f7f56fULL, "3.2266716373036798e7"},
    {0x3f373d803fa6a145ULL, "3.5461789198134127e-4"},
    {0x3f1f90b238d71d47ULL, "1.2041175633391742e-4"},
    {0x3e8bf1958fb302bdULL, "2.0819670241112777e-7"},
    {0x40dc8295ffcb6bf8ULL, "2.919434373746437e4"},
    {0x3faa16344dcf032fULL, "5.09506554585698e-2"},
    {0x3f204b51db23b6e9ULL, "1.2431501597325666e-4"},
    {0x3fc1899f112d6bc4ULL, "1.370123704790257e-1"},
    {0x3e587d37490b4013ULL, "2.2807274793420842e-8"},
    {0x4131d3a869ed3253ULL, "1.1682964137755826e6"},
    {0x3f353f58ddd61cf7ULL, "3.2421035378900294e-4"},
    {0x3f3b0c4300686d0eULL, "4.1271816044892516e-4"},
    {0x3eed8932ed7a3e54ULL, "1.4083830520732862e-5"},
    {0x415980ff2fb5df28ULL, "6.685692745475568e6"},
    {0x4135c7337a547e96ULL, "1.4272514778517834e6"},
    {0x3f0123f261bbb3ebULL, "3.269275131665541e-5"},
    {0x3f3ccac821715e4cULL, "4.393328285394501e-4"},
    {0x3eb1a820994daff0ULL, "1.0524241577892676e-6"},
    {0x40d58daaafb4c8afULL, "2.207066697425459e4"},
    {0x40a6a4745b306afeULL, "2.8982272582178693e3"},
    {0x3fb999999999999aULL, "1e-1"},
    {0x3fc999999999999aULL, "2e-1"},
    {0x3fd3333333333333ULL, "3e-1"},
    {0x3fd3333333333334ULL, "3.0000000000000004e-1"},
    {0x3fd5555555555555ULL, "3.333333333333333e-1"},
    {0x3fe5555555555555ULL, "6.666666666666666e-1"},
    {0x44b52d02c7e14af6ULL, "1e23"},
    {0x44b52d02c7e14af6ULL, "1e23"},
    {0x0000000000000001ULL, "5e-324"},
    {0x7fefffffffffffffULL, "1.7976931348623157e308"},
    {0x0010000000000000ULL, "2.2250738585072014e-308"},
    {0x000fffffffffffffULL, "2.225073858507201e-308"},
    {0x4011666666666666ULL, "4.35e0"},
    {0x3eb0c6f7a0b5ed8dULL, "1e-6"},
    {0x437b69b4ba630f35ULL, "1.2345678901234568e17"},
    {0x4340000000000000ULL, "9.007199254740992e15"},
    {0x444b1ae4d6e2ef50ULL, "1e21"},
    {0x4480f0cf064dd592ULL, "1e22"},
    {0x447c7e83209e90b2ULL, "8.41e21"},
    {0x00005c0ab9347ed7ULL, "5e-310"},
    {0x3efa36e2eb1c432dULL, "2.5e-5"},
    /* exact ties at 17 digits: Rust rounds these up, half-even would not */
    {0x3eb2000000000000ULL, "1.0728836059570313e-6"},
    {0x3eba000000000000ULL, "1.5497207641601563e-6"},
    {0x3ec1000000000000ULL, "2.0265579223632813e-6"},
    {0x3ec5000000000000ULL, "2.5033950805664063e-6"},
    {0x3ec9000000000000ULL, "2.9802322387695313e-6"},
    {0x3ecd000000000000ULL, "3.4570693969726563e-6"},
    {0x3ee6800000000000ULL, "1.0728836059570313e-5"},
    {0x3ee8800000000000ULL, "1.1682510375976563e-5"},
    {0x3eea800000000000ULL, "1.2636184692382813e-5"},
};

/* Reduces "-0.00123" / "1230" / "-1.23e-3" to sign, significant digits and
 * the decimal exponent of the first digit. */
static void sci_parts(const char *s, int *neg, char *digits, int *exp10)
{
  *neg = *s == '-';
  if (*neg)
    s++;
  int n = 0, point = -1, first = -1, pos = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s == '.') {
      point = pos;
      continue;
    }
    if (first < 0 && *s == '0') {
      pos++;
      continue;
    }
    if (first < 0)
      first = pos;
    digits[n++] = *s;
    pos++;
  }
  if (point < 0)
    point = pos;
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = '\0';
  *exp10 = (first < 0 ? 0 : point - first - 1) + (*s == 'e' ? atoi(s + 1) : 0);
}

static void test_fmt_against_rust(void)
{
  int mismatches = 0;
  for (size_t i = 0; i < sizeof RUST_SHORTEST / sizeof RUST_SHORTEST[0]; i++) {
    double x;
    memcpy(&x, &RUST_SHORTEST[i].bits, sizeof x);
    char buf[CF_NUMBUF], got_d[400], want_d[400];
    cf_fmt_f64(x, buf);
    int got_neg, want_neg, got_e, want_e;
    sci_parts(buf, &got_neg, got_d, &got_e);
    sci_parts(RUST_SHORTEST[i].rust_e, &want_neg, want_d, &want_e);
    if (got_neg != want_neg || got_e != want_e || strcmp(got_d, want_d) != 0 || strchr(buf, 'e')) {
      if (mismatches++ < 10)
        fprintf(stderr, "  %s: cf_fmt_f64 gave %s\n", RUST_SHORTEST[i].rust_e, buf);
    }
  }
  CHECK(mismatches == 0);
  if (mismatches)
    fprintf(stderr, "  %d of %zu doubles differ from Rust's shortest digits\n", mismatches,
            sizeof RUST_SHORTEST / sizeof RUST_SHORTEST[0]);
}

/* ---- cf_parse_f64 ----------------------------------------------------- */

static void parses(const char *s, double want)
{
  double d = -12345.0;
  bool ok = cf_parse_f64(s, strlen(s), &d);
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  cf_parse_f64 rejected \"%s\"\n", s);
  else if (isnan(want))
    CHECK(isnan(d));
  else {
    CHECK(d == want && signbit(d) == signbit(want));
    if (d != want)
      fprintf(stderr, "  \"%s\" parsed as %.17g\n", s, d);
  }
}

static void rejects(const char *s, size_t len)
{
  double d = 0;
  bool ok = cf_parse_f64(s, len, &d);
  CHECK(!ok);
  if (ok)
    fprintf(stderr, "  cf_parse_f64 accepted \"%.*s\"\n", (int)len, s);
}

#define REJECTS(lit) rejects(lit, sizeof(lit) - 1)

static void test_parse_f64(void)
{
  parses("1", 1.0);
  parses("+1", 1.0);
  parses("-1.5", -1.5);
  parses("1.", 1.0);
  parses(".5", 0.5);
  parses("+.5e-3", 0.0005);
  parses("1e5", 1e5);
  parses("1E-5", 1e-5);
  parses("1e+5", 1e5);
  parses("inf", INFINITY);
  parses("INF", INFINITY);
  parses("infinity", INFINITY);
  parses("-Infinity", -INFINITY);
  parses("NaN", NAN);
  parses("+nan", NAN);
  parses("-NaN", NAN);
  parses("0.1", 0.1);
  parses("-0", -0.0);
  parses("007", 7.0);
  /* Correct rounding, overflow to infinity, underflow to zero. */
  parses("9007199254740993", 9007199254740992.0);
  parses("1e400", INFINITY);
  parses("-1e400", -INFINITY);
  parses("1e-400", 0.0);
  parses("2.2250738585072011e-308", 2.2250738585072011e-308);
  parses("4.9406564584124654e-324", 0x1p-1074);
  parses("1e99999999999999999999", INFINITY);

  REJECTS("");
  REJECTS(" 1");
  REJECTS("1 ");
  REJECTS("\t1");
  REJECTS("0x10");
  REJECTS("1_000");
  REJECTS(".");
  REJECTS("1e");
  REJECTS("1.5e");
  REJECTS("1e+");
  REJECTS("e5");
  REJECTS("nan(1)");
  REJECTS("--1");
  REJECTS("+-1");
  REJECTS("+");
  REJECTS("-");
  REJECTS("Infinit");
  REJECTS("infinityy");
  REJECTS("in");
  REJECTS("1,5");
  REJECTS("1.2.3");
  REJECTS("\xd9\xa1"); /* ARABIC-INDIC DIGIT ONE */
  REJECTS("1\0"); /* an embedded NUL is not the end of the text */
  /* Long inputs (more digits than any buffer a parser might keep on the stack). */
  {
    char longnum[1200];
    size_t o = 0;
    longnum[o++] = '1';
    for (int i = 0; i < 1000; i++)
      longnum[o++] = '0';
    strcpy(longnum + o, "e-1000");
    parses(longnum, 1.0);
    longnum[o] = 'x';
    rejects(longnum, strlen(longnum));
  }
  /* The length is honoured: "12" followed by more text that is not part of it. */
  double d = 0;
  CHECK(cf_parse_f64("12abc", 2, &d) && d == 12.0);
}

/* ---- cf_parse_bool ---------------------------------------------------- */

static void test_parse_bool(void)
{
#define PB(lit) cf_parse_bool(lit, sizeof(lit) - 1)
  CHECK(PB("true"));
  CHECK(PB("TRUE"));
  CHECK(!PB("false"));
  CHECK(!PB("True"));
  CHECK(!PB("FALSE"));
  CHECK(!PB("tRUE"));
  CHECK(!PB("1"));
  CHECK(!PB("yes"));
  CHECK(!PB(""));
  CHECK(!PB("true "));
  CHECK(!PB(" true"));
  CHECK(!PB("truee"));
  CHECK(cf_parse_bool("trueX", 4));
#undef PB
}

/* ---- timestamps (spec 3.7 parse_ts) ----------------------------------- */

static void ts_is(const char *s, int64_t secs, int32_t nanos)
{
  cf_time t = {-1, -1};
  bool ok = cf_parse_timestamp(s, strlen(s), &t);
  CHECK(ok);
  if (!ok) {
    fprintf(stderr, "  timestamp \"%s\" was rejected\n", s);
    return;
  }
  CHECK(t.secs == secs && t.nanos == nanos);
  if (t.secs != secs || t.nanos != nanos)
    fprintf(stderr, "  timestamp \"%s\": got %lld.%09d, want %lld.%09d\n", s, (long long)t.secs, t.nanos,
            (long long)secs, nanos);
}

static void ts_fails(const char *s)
{
  cf_time t;
  bool ok = cf_parse_timestamp(s, strlen(s), &t);
  CHECK(!ok);
  if (ok)
    fprintf(stderr, "  timestamp \"%s\" was accepted as %lld.%09d\n", s, (long long)t.secs, t.nanos);
}

/* Two texts denote the same instant. */
static void ts_same(const char *a, const char *b)
{
  cf_time ta, tb;
  bool oka = cf_parse_timestamp(a, strlen(a), &ta), okb = cf_parse_timestamp(b, strlen(b), &tb);
  CHECK(oka && okb && ta.secs == tb.secs && ta.nanos == tb.nanos);
  if (!(oka && okb && ta.secs == tb.secs && ta.nanos == tb.nanos))
    fprintf(stderr, "  \"%s\" and \"%s\" differ\n", a, b);
}

static int64_t parse_secs(const char *s)
{
  cf_time t = {0, 0};
  CHECK(cf_parse_timestamp(s, strlen(s), &t));
  return t.secs;
}

static void test_timestamps(void)
{
  const int64_t T = 1668698177; /* 2022-11-17T15:16:17Z */
  /* RFC 3339 (time part holds Z, + or -). */
  ts_is("2022-11-17T15:16:17Z", T, 0);
  ts_is("2022-11-17T15:16:17.118Z", T, 118000000);
  ts_is("2022-11-17T15:16:17.5Z", T, 500000000);
  ts_is("2022-11-17T15:16:17.000000001Z", T, 1);
  ts_is("2022-11-17T15:16:17.123456789123Z", T, 123456789); /* digits past 9 skipped */
  ts_is("2022-11-17T15:16:17+01:00", T - 3600, 0);
  ts_is("2022-11-17T15:16:17-05:30", T + 19800, 0);
  ts_is("2022-11-17T15:16:17+00:00", T, 0);
  ts_is("2022-11-17T15:16:17+23:59", T - 86340, 0);
  ts_is("2022-11-17 15:16:17Z", T, 0); /* space separator */
  /* chrono's RFC 3339 parser takes U+2212 as a minus, but the dispatch only
   * looks for ASCII Z/+/- in the time part, so the whole text fails. */
  {
    const char *s = "2022-11-17T15:16:17\xe2\x88\x92" "01:00";
    cf_time t = {0, 0};
    CHECK(cf_parse_rfc3339(s, strlen(s), &t) && t.secs == T + 3600 && t.nanos == 0);
    ts_fails(s);
  }
  ts_is("1970-01-01T00:00:00Z", 0, 0);
  ts_is("1969-12-31T23:59:59Z", -1, 0);
  ts_is("2016-12-31T23:59:60Z", 1483228799, 1000000000); /* leap second */
  ts_fails("2022-11-17T15:16:17z");   /* lowercase z: the naive parsers see junk */
  ts_fails("2022-11-17t15:16:17Z");   /* lowercase t: no T/space, fails as a date */
  ts_fails("2022-11-17T15:16:17+0100");
  ts_fails("2022-11-17T15:16:17+1:00");
  ts_fails("2022-11-17T15:16:17+24:00");
  ts_fails("2022-11-17T15:16:17+01:60");
  ts_fails("2022-11-17T15:16:17.Z");
  ts_fails("2022-11-17T15:16:17Zjunk");
  ts_fails("2022-11-17T15:16Z");
  ts_fails("2022-11-7T15:16:17Z");    /* RFC 3339 needs two-digit fields */
  ts_fails("22022-11-17T15:16:17Z");
  ts_fails("2022-11-17T25:16:17Z");
  ts_fails("2022-02-30T15:16:17Z");
  /* Naive formats, interpreted as UTC. */
  ts_is("2022-11-17T15:16:17", T, 0);
  ts_is("2022-11-17T15:16:17.25", T, 250000000);
  ts_is("2022-11-17T15:16:17.1234567891", T, 123456789);
  ts_is("2022-11-17 15:16:17", T, 0);
  ts_is("2022-11-17 15:16:17.75", T, 750000000);
  ts_is("2022-11-17   15:16:17", T, 0); /* a space in the format skips any whitespace */
  ts_is("2022-11-17T 15:16:17", T, 0);  /* numeric fields may follow whitespace */
  ts_is("2022-11-17T5:6:7", 1668643200 + 5 * 3600 + 6 * 60 + 7, 0); /* 1..2 digits */
  ts_is("2022-11-17T23:59:60", 1668643200 + 86399, 1000000000);     /* leap second */
  ts_fails("2022-11-17T15:16");
  ts_fails("2022-11-17T15:16:17.");
  ts_fails("2022-11-17T24:00:00");
  ts_fails("2022-11-17T23:60:00");
  ts_fails("2022-11-17T15:16:17 ");
  ts_fails("2022-11-17T15:16:171");
  /* Dates only: midnight UTC. */
  ts_is("2022-11-17", 1668643200, 0);
  ts_is("2022-1-7", 1641513600, 0);
  ts_is("2024-02-29", 1709164800, 0);
  ts_is("2000-02-29", 951782400, 0);
  ts_is("0001-01-01", -62135596800LL, 0);
  ts_is("9999-12-31", 253402214400LL, 0);
  ts_fails("2023-02-29");
  ts_fails("1900-02-29");
  ts_fails("2022-04-31");
  ts_fails("2022-13-01");
  ts_fails("2022-00-10");
  ts_fails("2022-11-00");
  ts_fails("2022-11-17x");
  ts_fails("12345-01-01"); /* unsigned years have at most 4 digits */
  ts_fails("2022/11/17");
  ts_fails("");
  ts_fails("garbage");
  ts_fails(" 2022-11-17"); /* contains a space: its "time part" has '-' so RFC 3339 fails */
  /* Years with a sign take any number of digits. */
  ts_same("+2022-11-17", "2022-11-17");
  ts_same("22-11-17", "0022-11-17");
  CHECK(parse_secs("+12345-01-01") > parse_secs("9999-12-31"));
  CHECK(parse_secs("0001-01-01") - parse_secs("0000-01-01") == 366 * 86400LL); /* year 0 is leap */
  CHECK(parse_secs("0000-01-01") - parse_secs("-0001-12-31") == 86400);
  CHECK(parse_secs("-0001-01-01") - parse_secs("-0002-01-01") == 365 * 86400LL);
  ts_fails("+999999-01-01"); /* beyond chrono's +-262143 years */
}

/* ---- cf_epoch_to_time -------------------------------------------------- */

static void epoch_is(double x, int64_t secs, int32_t nanos)
{
  cf_time t = {-7, -7};
  bool ok = cf_epoch_to_time(x, &t);
  CHECK(ok && t.secs == secs && t.nanos == nanos);
  if (!(ok && t.secs == secs && t.nanos == nanos))
    fprintf(stderr, "  epoch %.17g: ok=%d %lld.%09d, want %lld.%09d\n", x, ok, (long long)t.secs, t.nanos,
            (long long)secs, nanos);
}

static void test_epoch(void)
{
  epoch_is(1668698178.0, 1668698178, 0);
  epoch_is(1668698178.9, 1668698178, 0); /* fraction of seconds dropped */
  epoch_is(1668698177200.0, 1668698177, 200000000);
  epoch_is(0.0, 0, 0);
  epoch_is(-1.5, -1, 0);                      /* truncation, not floor */
  epoch_is(999999999999.0, 999999999999LL, 0); /* last value read as seconds */
  epoch_is(1e12, 1000000000, 0);              /* first value read as milliseconds */
  epoch_is(1000000000001.0, 1000000000, 1000000);
  epoch_is(-999999999999.0, -999999999999LL, 0);
  epoch_is(-1e12, -1000000000, 0);
  epoch_is(-1000000000001.0, -1000000001, 999000000); /* floor division, positive nanos */
  epoch_is(-1000000000999.0, -1000000001, 1000000);
  epoch_is(1668698177200.7, 1668698177, 200000000);
  cf_time t;
  CHECK(!cf_epoch_to_time(NAN, &t));
  CHECK(!cf_epoch_to_time(INFINITY, &t));
  CHECK(!cf_epoch_to_time(-INFINITY, &t));
  CHECK(!cf_epoch_to_time(1e19, &t));  /* saturates, then out of chrono's range */
  CHECK(!cf_epoch_to_time(-1e19, &t));
  CHECK(!cf_epoch_to_time(9e18, &t)); /* ~285 million years in milliseconds */
}

/* ---- cf_parse_version ------------------------------------------------- */

static void ver(const char *s, uint64_t out[4]) { cf_parse_version(s, strlen(s), out); }

static int ver_cmp(const char *a, const char *b)
{
  uint64_t x[4], y[4];
  ver(a, x);
  ver(b, y);
  for (int i = 0; i < 4; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

static void ver_is(const char *s, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
  uint64_t v[4] = {9, 9, 9, 9};
  ver(s, v);
  CHECK(v[0] == a && v[1] == b && v[2] == c && v[3] == d);
  if (!(v[0] == a && v[1] == b && v[2] == c && v[3] == d))
    fprintf(stderr, "  version \"%s\" -> %llu.%llu.%llu.%llu\n", s, (unsigned long long)v[0],
            (unsigned long long)v[1], (unsigned long long)v[2], (unsigned long long)v[3]);
}

static void invalid_version(const char *s) { ver_is(s, 0, 0, 0, 0); }

static void test_versions(void)
{
  /* Spec 3.9 examples. */
  CHECK(ver_cmp("12.4", "12.4.0") == 0);
  CHECK(ver_cmp("1.0.1000", "1.0.0.1001") < 0);
  CHECK(ver_cmp("1.2.3-alpha", "1.2.3-beta") == 0);
  invalid_version("v1.0.0");
  CHECK(ver_cmp("10.0.0", "2.0.0") > 0);
  /* Tuples. */
  ver_is("1.2", 1, 2, 0, 0);
  ver_is("1.2.3", 1, 2, 3, 0);
  ver_is("1.2.999", 1, 2, 999, 0);
  ver_is("1.2.1000", 1, 2, 0, 1000); /* a 4-digit third part is a tag */
  ver_is("1.2.0999", 1, 2, 0, 999);  /* digit count, not value */
  ver_is("1.2.3.4", 1, 2, 3, 4);
  ver_is("1.2.3-rc.1", 1, 2, 3, 0);
  ver_is("1234567890.0", 1234567890, 0, 0, 0); /* 10 digits allowed */
  ver_is("0.9999999999", 0, 9999999999ULL, 0, 0);
  invalid_version("12345678901.0"); /* 11 digits */
  invalid_version("1.12345678901");
  invalid_version("1.2.3.4.5");
  invalid_version("1");
  invalid_version("");
  invalid_version("1..2");
  invalid_version("1.2.");
  invalid_version(".1.2");
  invalid_version("1.2.x");
  invalid_version("1.2.3+build");
  invalid_version(" 1.2");
  invalid_version("-1.2");
  invalid_version("1.-2");
  CHECK(ver_cmp("1.10.0", "1.9.0") > 0);
  CHECK(ver_cmp("2.0", "1.999.999.999") > 0);
  CHECK(ver_cmp("v9.9.9", "0.0") == 0);
}

int main(void)
{
  test_fmt_f64();
  test_fmt_against_rust();
  test_parse_f64();
  test_parse_bool();
  test_timestamps();
  test_epoch();
  test_versions();
  return check_finish();
}
